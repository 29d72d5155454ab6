"""Generate a large, realistic ruleset for timing the linter (parse + check).

``generate_ruleset(n_rules=2000, seed=...)`` returns the text of a clean
ruleset over the benchmark schema (``events.rdsl``, inlined): about one
parameter per 25 rules, inline black/grey lists, one window per 12 rules
(count, sum, avg, max, distinct, last, since; keyed by customer, account,
card, phone, device, payee, merchant; 5 minutes to 90 days; some with
``where`` and ``excluding current``) and ``n_rules`` rules mixing amount
thresholds, list membership, city mismatch, time of day, ``present``,
``and``/``or``/``not`` and window comparisons.  Every rule only names fields
that all of its event types have, so the ruleset checks without errors.
"""

from __future__ import annotations

import random
from pathlib import Path

HERE = Path(__file__).resolve().parent

# fields per event type (mirrors events.rdsl; `?` = optional)
SCHEMA = {
    "login": {
        "customer_id": "string",
        "account_id": "string",
        "channel": "enum",
        "device_id": "string?",
        "phone": "string?",
        "city": "string?",
        "home_city": "string",
    },
    "query": {
        "customer_id": "string",
        "account_id": "string",
        "channel": "enum",
        "device_id": "string?",
        "phone": "string?",
        "city": "string?",
        "home_city": "string",
    },
    "transfer": {
        "customer_id": "string",
        "account_id": "string",
        "card_no": "string?",
        "channel": "enum",
        "amount": "decimal",
        "counterparty_account": "string",
        "counterparty_name_same": "bool",
        "device_id": "string?",
        "phone": "string?",
        "city": "string?",
        "home_city": "string",
    },
    "payment": {
        "customer_id": "string",
        "account_id": "string",
        "card_no": "string",
        "channel": "enum",
        "merchant_id": "string",
        "amount": "decimal",
        "device_id": "string?",
        "city": "string?",
        "home_city": "string",
    },
    "atm_withdraw": {
        "customer_id": "string",
        "account_id": "string",
        "card_no": "string",
        "atm_id": "string",
        "amount": "decimal",
        "city": "string?",
        "home_city": "string",
    },
}

GROUPS = (
    ("login",),
    ("query",),
    ("transfer",),
    ("payment",),
    ("atm_withdraw",),
    ("transfer", "payment"),
    ("transfer", "payment", "atm_withdraw"),
    ("login", "query", "transfer"),
    ("login", "transfer", "payment"),
    ("login", "query"),
)
GROUP_WEIGHTS = (8, 3, 20, 14, 6, 12, 8, 6, 4, 3)

KEYS = ("customer_id", "account_id", "card_no", "phone", "device_id", "counterparty_account", "merchant_id")
DISTINCT_ARGS = (
    "phone",
    "device_id",
    "account_id",
    "city",
    "atm_id",
    "merchant_id",
    "counterparty_account",
    "customer_id",
)
DURATIONS = ("5m", "10m", "30m", "1h", "6h", "1d", "7d", "30d", "90d")
ACTIONS = ("block", "hold", "step_up", "alert", "alert", "alert", "pass")
CHANNELS = ("mobile", "web", "corporate", "third_party", "atm", "pos")
REASONS = (
    "异地交易",
    "大额转账",
    "夜间交易",
    "频繁交易",
    "多设备操作",
    "多手机号操作",
    "黑名单命中",
    "灰名单命中",
    "小额试探",
    "休眠账户激活",
    "资金快进快出",
    "非同名转账",
    "高风险商户",
    "新设备登录",
    "超出客户习惯",
)


def _fields(group) -> dict[str, str]:
    common = None
    for t in group:
        f = SCHEMA[t]
        common = dict(f) if common is None else {k: v for k, v in common.items() if k in f}
    # a field optional in one type is optional for the group
    for k in list(common):
        if any(SCHEMA[t][k].endswith("?") for t in group):
            common[k] = common[k].rstrip("?") + "?"
    return common


class _RulesetGen:
    def __init__(self, n_rules: int, seed: int):
        self.rng = random.Random(seed)
        self.n_rules = n_rules
        self.lines: list[str] = []
        self.params: dict[str, list[str]] = {"decimal": [], "int": [], "duration": [], "hour": []}
        self.windows: list[tuple[str, str, tuple, str]] = []  # name, result type, event group, key field

    def out(self, line: str = "") -> None:
        self.lines.append(line)

    def header(self) -> None:
        self.out("ruleset lint_bench {")
        self.out('  version "1"')
        self.out(f'  description "generated: {self.n_rules} rules for timing the linter"')
        self.out('  timezone "Asia/Shanghai"')
        self.out("}")
        self.out()
        self.out((HERE / "events.rdsl").read_text(encoding="utf-8"))

    def lists(self) -> None:
        rng = self.rng
        for kind, fmt, n in (
            ("accounts", "6230{:015d}", 40),
            ("merchants", "898999{:09d}", 30),
            ("devices", "D-BLK-{:06d}", 20),
            ("phones", "139{:08d}", 20),
        ):
            for shade in ("black", "grey"):
                items = ", ".join(f'"{fmt.format(rng.randrange(10**8))}"' for _ in range(n))
                self.out(f"list {shade}_{kind}: string = [{items}]")
        self.out('list watch_cities: string = ["乌鲁木齐", "昆明", "南宁", "海口", "拉萨"]')
        self.out()

    def param_decls(self) -> None:
        rng = self.rng
        n = max(10, self.n_rules // 25)
        for i in range(n):
            kind = ("decimal", "decimal", "int", "duration", "hour")[i % 5]
            name = f"p_{kind}_{i:04d}"
            if kind == "decimal":
                value = f"{rng.choice((10, 500, 1000, 5000, 20000, 50000, 200000))}.00"
                self.out(f"param {name}: decimal = {value}")
            elif kind == "int":
                self.out(f"param {name}: int = {rng.randrange(2, 20)}")
            elif kind == "duration":
                self.out(f"param {name}: duration = {rng.choice(('1h', '1d', '30d', '90d', '180d'))}")
            else:
                self.out(f"param {name}: int = {rng.randrange(0, 24)}")
            self.params[kind].append(name)
        self.out()

    def window_decls(self) -> None:
        rng = self.rng
        n = max(4, self.n_rules // 12)
        for i in range(n):
            group = rng.choices(GROUPS, GROUP_WEIGHTS)[0]
            fields = _fields(group)
            keys = [k for k in KEYS if k in fields]
            key = rng.choice(keys)
            has_amount = "amount" in fields
            aggs = ["count", "distinct", "since", "last"] + (["sum", "sum", "avg", "max"] if has_amount else [])
            agg = rng.choice(aggs)
            name = f"w_{agg}_{i:04d}"
            if agg in ("sum", "avg", "max"):
                arg, rtype = "amount", "decimal"
            elif agg == "distinct":
                arg = rng.choice([f for f in DISTINCT_ARGS if f in fields and f != key])
                rtype = "int"
            elif agg == "last":
                arg = "city"
                rtype = "string"
            else:
                arg, rtype = "", ("duration" if agg == "since" else "int")
            where = ""
            r = rng.random()
            if r < 0.15 and has_amount:
                where = f" where amount >= {rng.choice(('100.00', '1000.00', '5000.00'))}"
            elif r < 0.25 and "channel" in fields:
                where = f' where channel == "{rng.choice(CHANNELS)}"'
            elif agg in ("distinct", "last") and fields[arg].endswith("?"):
                where = f" where present({arg})"
            over = rng.choice(DURATIONS) if agg not in ("since", "last") else rng.choice(("1h", "30d", "400d"))
            excl = " excluding current" if agg in ("count", "sum", "avg") and rng.random() < 0.2 else ""
            self.out(f"window {name} = {agg}({arg}) of {', '.join(group)}{where} by {key} over {over}{excl}")
            self.windows.append((name, rtype, group, key))
        self.unused = {w[0] for w in self.windows}
        self.out()

    # ------------------------------------------------------------ conditions
    def cond(self, group, fields, used: set) -> str:
        rng = self.rng
        options = []
        if "amount" in fields:
            options += ["amount_param", "amount_lit", "amount_lit"]
        if "city" in fields:
            options += ["city", "watch_city"]
        if "channel" in fields:
            options += ["channel", "channel_in"]
        options += ["hours", "hour", "weekday"]
        if "device_id" in fields:
            options += ["device_list", "present_device"]
        if "phone" in fields:
            options += ["phone_list", "present_phone"]
        if "counterparty_account" in fields:
            options += ["payee_list", "payee_list", "same_name"]
        if "merchant_id" in fields:
            options += ["merchant_list", "merchant_prefix"]
        usable = [w for w in self.windows if set(group) <= set(w[2])]
        if usable:
            options += ["window"] * 4
        fresh = [o for o in options if o not in used] or options
        kind = rng.choice(fresh)
        if kind != "window":
            used.add(kind)
        P = self.params
        if kind == "amount_param":
            return f"amount {rng.choice(('>=', '>', '<'))} {rng.choice(P['decimal'])}"
        if kind == "amount_lit":
            return f"amount {rng.choice(('>=', '>', '<=', '<'))} {rng.choice(('1.00', '10.00', '5000.00', '50000.00', '100000'))}"
        if kind == "city":
            return "city != home_city"
        if kind == "watch_city":
            return "city in watch_cities"
        if kind == "channel":
            return f'channel {rng.choice(("==", "!="))} "{rng.choice(CHANNELS)}"'
        if kind == "channel_in":
            chosen = rng.sample(CHANNELS, 2)
            return f'channel in ["{chosen[0]}", "{chosen[1]}"]'
        if kind == "hours":
            a, b = rng.sample(P["hour"], 2)
            return f"between_hours(ts, {a}, {b})"
        if kind == "hour":
            return f"hour(ts) {rng.choice(('<', '>='))} {rng.randrange(0, 24)}"
        if kind == "weekday":
            return "weekday(ts) >= 6"
        if kind == "device_list":
            return f"device_id in {rng.choice(('black', 'grey'))}_devices"
        if kind == "present_device":
            return rng.choice(("not present(device_id)", "present(device_id)"))
        if kind == "phone_list":
            return f"phone in {rng.choice(('black', 'grey'))}_phones"
        if kind == "present_phone":
            return rng.choice(("not present(phone)", "present(phone)"))
        if kind == "payee_list":
            return f"counterparty_account {rng.choice(('in', 'not in'))} {rng.choice(('black', 'grey'))}_accounts"
        if kind == "same_name":
            return rng.choice(("not counterparty_name_same", "counterparty_name_same"))
        if kind == "merchant_list":
            return f"merchant_id in {rng.choice(('black', 'grey'))}_merchants"
        if kind == "merchant_prefix":
            return f'startswith(merchant_id, "898{rng.randrange(100, 999)}")'
        unused = [w for w in usable if w[0] in self.unused]
        name, rtype, _g, _k = rng.choice(unused or usable)
        self.unused.discard(name)
        if rtype == "int":
            return f"{name} {rng.choice(('>', '>='))} {rng.choice(P['int']) if rng.random() < 0.5 else rng.randrange(2, 30)}"
        if rtype == "decimal":
            if "amount" in fields and rng.random() < 0.3:
                return f"amount > {name} * {rng.randrange(2, 6)}"
            return f"{name} > {rng.choice(P['decimal'])}"
        if rtype == "duration":
            return f"{name} >= {rng.choice(P['duration'])}"
        if "city" in fields:
            return f"city != {name}"
        return f"present({name})"

    def when(self, group, fields) -> str:
        rng = self.rng
        used: set = set()
        parts = [self.cond(group, fields, used) for _ in range(rng.choice((1, 2, 2, 3, 3, 4)))]
        if len(parts) >= 3 and rng.random() < 0.3:
            parts = [*parts[:-2], f"({parts[-2]} or {parts[-1]})"]
        if rng.random() < 0.1:
            parts[0] = f"not ({parts[0]})"
        return " and ".join(parts)

    def rules(self) -> None:
        rng = self.rng
        for i in range(self.n_rules):
            group = rng.choices(GROUPS, GROUP_WEIGHTS)[0]
            fields = _fields(group)
            self.out(f"rule r_{i:05d} {{")
            self.out(f'  reason "{rng.choice(REASONS)} ({i})"')
            self.out(f'  code "GEN-{i:05d}"')
            self.out(f"  on {', '.join(group)}")
            self.out(f"  when {self.when(group, fields)}")
            self.out(f"  action {rng.choice(ACTIONS)}")
            if rng.random() < 0.2:
                self.out(f"  priority {rng.randrange(-10, 100)}")
            if rng.random() < 0.05:
                self.out("  shadow")
            self.out("}")
            self.out()

    def text(self) -> str:
        self.header()
        self.lists()
        self.param_decls()
        self.window_decls()
        self.rules()
        return "\n".join(self.lines) + "\n"


def generate_ruleset(n_rules: int = 2000, seed: int = 7) -> str:
    """Source text of a clean ruleset with ``n_rules`` rules (deterministic)."""
    return _RulesetGen(n_rules, seed).text()


def write_ruleset(directory, n_rules: int = 2000, seed: int = 7) -> Path:
    """Write the generated ruleset to ``directory/lint_bench_N.rdsl`` and return its path."""
    path = Path(directory) / f"lint_bench_{n_rules}.rdsl"
    path.write_text(generate_ruleset(n_rules, seed), encoding="utf-8")
    return path


if __name__ == "__main__":  # pragma: no cover
    import sys

    sys.stdout.write(generate_ruleset(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
