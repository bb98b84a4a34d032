"""Secrets removed from anything Fireline posts or logs: log lines, queries, events, log records.

`redact()` replaces credentials with `[redacted]`: private keys (PEM blocks, and a lone line of
key body), passwords in URLs (any characters, `/` and `@` included), Slack and Discord webhook
URLs, `Authorization:` headers (the scheme word kept, every credential after it removed),
cookies, the token shapes of AWS, GCP, GitHub, GitLab, Slack, Stripe, npm, PyPI and others,
JWTs, bearer tokens, `--password VALUE` flags, and `key=value` / JSON / YAML pairs whose key
names a secret. Over-redacting a harmless value is acceptable; posting or logging a secret is
not. tests/runtime/data/secrets.jsonl is the corpus it is held to.

Everything here runs over text an outsider controls (a pod's log line, an alert, a title), so
every rule is an RE2 pattern (`bot.runtime.patterns`): time linear in the text, however it is
built, and each rule is shaped so that finding *all* its matches stays linear too (a match
never scans far past its own end). Rules apply in order, the widest first: a PEM block or an
`Authorization` header is removed whole before the narrower rules could cut it in half and
leave a piece that no rule recognises. One combined search decides first whether any rule can
match at all, so a clean line costs one pass.

Linear is not free: a megabyte built to match a rule every few bytes takes about a second. A
caller with a large text (the logs action: a pod's log, up to 1 MB) redacts it in a worker
thread; the logging filter cuts a record to 64 KiB first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bot.runtime.patterns import Match, Pattern, linear

REDACTED = "[redacted]"
_REDACTED = REDACTED.encode()

# Key names that say "the value is a secret", in `key=value`, `key: value`, JSON and YAML.
_SECRET_KEY = (
    r"passw(?:or)?d|pw|passphrase|secret|token|api[_-]?key|apikey|"
    r"(?:access|private|account|client|master|signing|encryption)[_-]?key|"
    r"auth|credential|session|cookie|signature"
)
# The value after `key=`: one an earlier rule redacted (left as it is, its quotes kept), a
# JSON/Python string (escapes honoured), or a bare word.
_VALUE = (
    r"""(?:\[redacted\][^\s,;&}"'\\]*|"(?:[^"\\\r\n]|\\.)*"|'(?:[^'\\\r\n]|\\.)*'|"""
    r"""[^\s,;&}]+)"""
)
# An HTTP header's value in a dump, a dict repr or JSON: up to the quote, the backslash of an
# escaped quote, or the end of the line.
_HEADER_VALUE = r"""[^"'\\\r\n]+"""
# Authorization schemes, kept: `Authorization: Basic …` and `X-Auth: Token …` lose only what
# follows. Only known words: a bare credential followed by more text must not pass for a scheme.
_SCHEMES = (
    r"basic|bearer|token|digest|negotiate|ntlm|aws4-hmac-sha256|oauth|apikey|api-key|key|jwt|"
    r"hoba|mutual|vapid|scram-sha-1|scram-sha-256|sso-key|splunk"
)
_SCHEME = rf"""(?:\\?["']?(?:{_SCHEMES})[ \t]+)?"""
_HEADER_SEP = r"""\\?["']?[ \t]*[:=][ \t]*\\?["']?"""


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: Pattern
    replace: Callable[[Match], bytes]


def _whole(_: Match) -> bytes:
    return _REDACTED


def _after_first(match: Match) -> bytes:
    """Keep group 1 (a key, a scheme, a prefix), redact the rest."""
    return match.group(1) + _REDACTED


def _between(match: Match) -> bytes:
    """Keep groups 1 and 2 around the secret (`scheme://user:` … `@`)."""
    return match.group(1) + _REDACTED + match.group(2)


def _rule(name: str, source: str, replace: Callable[[Match], bytes] = _whole) -> Rule:
    return Rule(name, linear(source), replace)


# Shapes whose prefix alone says "credential"; no word boundary needed before them.
_SHAPES = (
    # AWS access key IDs (long-term, temporary, and the other principal prefixes).
    r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}",
    r"AIza[0-9A-Za-z_-]{30,}",  # Google API keys
    r"ya29\.[0-9A-Za-z_-]{20,}",  # Google OAuth access tokens
    r"1//0[0-9A-Za-z_-]{20,}",  # Google OAuth refresh tokens
    r"GOCSPX-[0-9A-Za-z_-]{20,}",  # Google OAuth client secrets
    r"gh[pousr]_[A-Za-z0-9]{30,}",  # GitHub tokens
    r"github_pat_[A-Za-z0-9_]{30,}",  # GitHub fine-grained tokens
    r"gl(?:pat|dt|rt|ptt|soat|cbt|ffct|oas|imt|agent|ft|wt)-[0-9A-Za-z_-]{20,}",  # GitLab
    r"GR1348941[0-9A-Za-z_-]{20,}",  # GitLab runner registration tokens
    r"x(?:ox[abposre](?:\.xox[abposre])?|app)-[A-Za-z0-9-]+",  # Slack tokens
    r"(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{10,}",  # Stripe secret and restricted keys
    r"whsec_[0-9A-Za-z]{20,}",  # Stripe webhook secrets
    r"npm_[A-Za-z0-9]{36}",  # npm
    r"pypi-AgE[A-Za-z0-9_-]{50,}",  # PyPI
    r"SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}",  # SendGrid
    r"hv[sb]\.[A-Za-z0-9_-]{24,}",  # HashiCorp Vault
    r"dop_v1_[a-f0-9]{64}",  # DigitalOcean
    r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}",  # Shopify
    r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*",  # JWTs (and JWS)
    r"\bsk-[A-Za-z0-9_-]{20,}",  # sk- style API keys (OpenAI, Anthropic, …)
)

RULES: tuple[Rule, ...] = (
    # A private key, BEGIN to END; with no END in sight, to the end of the text.
    _rule(
        "pem",
        r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
        r"(?:-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|\z)",
        lambda _: _REDACTED + b" (private key)",
    ),
    # A line that is only base64 of key-body width: a key whose BEGIN line fell outside a tail.
    _rule("pem-body", r"(?m:^[A-Za-z0-9+/]{40,}={0,2}(\r?)$)", lambda m: _REDACTED + m.group(1)),
    # scheme://user:PASSWORD@host — the password may hold `/`, `:` and `@`: up to the last `@`.
    _rule("url-password", r"(?i:([a-z][a-z0-9+.-]*://[^\s:/]*:)\S*(@))", _between),
    _rule(
        "webhook-url",
        r"(?i:(hooks\.slack\.com/|discord(?:app)?\.com/api/webhooks/)[A-Za-z0-9/_-]+)",
        _after_first,
    ),
    # Digest credentials: every field after the scheme (the response is crackable offline).
    _rule("digest", r"(?i:(\bdigest[ \t]+)username=[^\r\n]*)", _after_first),
    # Authorization: Basic|Bearer|Token|… CREDENTIALS — the scheme word kept, the rest removed.
    _rule(
        "authorization",
        rf"(?i:(\b(?:proxy-)?authori[sz]ation{_HEADER_SEP}(?:(?:{_SCHEMES})[ \t]+)?)"
        rf"{_HEADER_VALUE})",
        _after_first,
    ),
    # Cookie: and Set-Cookie: — every name=value pair.
    _rule("cookie", rf"(?i:(\b(?:set-)?cookie{_HEADER_SEP}){_HEADER_VALUE})", _after_first),
    _rule("bearer", r"(?i:(\bbearer[ \t]+)[A-Za-z0-9._~+/=-]+)", _after_first),
    *(_rule(f"shape-{i}", shape) for i, shape in enumerate(_SHAPES)),
    _rule("url-signature", r"(?i:([?&](?:sig|x-amz-signature)=)[^&\s\"'#]+)", _after_first),
    # --password VALUE, --token VALUE (a flag and its value as two words).
    _rule(
        "flag",
        rf"(?im:((?:^|[\s\"'])--?[\w-]*(?:{_SECRET_KEY})[\w-]*[ \t]+)[^\s-]\S*)",
        _after_first,
    ),
    # password=…, "api_key": "…", token: …, X-Api-Key: …
    _rule(
        "key-value",
        rf"(?i:([\w.-]*(?:{_SECRET_KEY})[\w.-]*\\?[\"']?[ \t]*[:=][ \t]*\\?{_SCHEME}){_VALUE})",
        _after_first,
    ),
)

# Any rule at all? One pass over a clean line instead of one per rule.
_ANY = linear("|".join(f"(?:{r.pattern.source})" for r in RULES), capture=False)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every secret replaced by `[redacted]`; `secrets` are exact values to remove
    too (the configured tokens). Linear in `len(text)`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    # UTF-8 once for every rule; lone surrogates (a filename decoded with surrogateescape)
    # pass through unmatched rather than raise.
    data = text.encode("utf-8", "surrogatepass")
    if not _ANY.search(data):
        return text
    for rule in RULES:
        data = rule.pattern.sub(rule.replace, data)
    return data.decode("utf-8", "surrogatepass")
