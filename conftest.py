"""Root conftest: make pytest collect rule tests (``rulesets/tests/*.test.yaml``) from a checkout.

When ruledsl is installed, its ``pytest11`` entry point already registers
``ruledsl.ruletest.pytest_plugin`` under the name ``ruledsl``; registering the same
module again would be an error, so this only registers it when that entry
point is not active (not installed, ``PYTEST_DISABLE_PLUGIN_AUTOLOAD``, ...).
``-p no:ruledsl`` still turns it off.
"""


def pytest_configure(config):
    pm = config.pluginmanager
    if pm.has_plugin("ruledsl") or pm.is_blocked("ruledsl"):
        return
    import ruledsl.ruletest.pytest_plugin as plugin

    if not pm.is_registered(plugin):
        pm.register(plugin, "ruledsl")
