"""The ruledsl grammar, shipped inside the package as ``ruledsl.grammar``."""
