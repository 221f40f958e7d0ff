import base64
import random
import xmlrpc.client
from datetime import datetime

from odoo.tests import BaseCase, HttpCase, tagged
from odoo.tools import mute_logger

from ..controllers.rpc import Q2cRPC
from ..tools import xmlrpc_decode


def _same(a, b):
    """Deep equality that also compares types, key order, floats by representation (nan,
    -0.0) and binaries by content."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[key], b[key]) for key in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, float):
        return repr(a) == repr(b)
    if isinstance(a, xmlrpc.client.Binary):
        return a.data == b.data
    return a == b


def _stdlib(data):
    try:
        return "ok", xmlrpc.client.loads(data, use_datetime=True)
    except Exception as error:  # compared with the decoder's outcome
        return "error", error


def _call(*values, method="execute_kw"):
    return xmlrpc.client.dumps(values, method, allow_none=True).encode()


def _wrap(body, prolog="<?xml version='1.0'?>\n", method="execute_kw"):
    text = f"{prolog}<methodCall>\n<methodName>{method}</methodName>\n<params>\n{body}</params>\n</methodCall>\n"
    return text.encode() if isinstance(text, str) else text


def _param(value_xml):
    return f"<param>\n<value>{value_xml}</value>\n</param>\n"


# Documents of every shape: (name, bytes). The decoder must give the standard library's
# result for each (or leave it to the standard library).
CORPUS = [
    (
        "usage batch",
        _call(
            "db",
            2,
            "key",
            "q2c.usage.event",
            "ingest",
            [
                [
                    {
                        "transaction_id": "t-1",
                        "subscription": "SUB/2026/00001",
                        "metric": "api_calls",
                        "quantity": 3,
                        "timestamp": "2026-01-31T23:59:59Z",
                    },
                    {
                        "transaction_id": "t-2",
                        "subscription_id": 7,
                        "metric": "users",
                        "quantity": 2.5,
                        "properties": {"user": "alice", "seats": 3, "admin": True, "none": None},
                    },
                ]
            ],
            {"context": {"lang": "en_US", "tz": False}},
        ),
    ),
    (
        "every type",
        _call(
            "text",
            "",
            "  spaced  ",
            0,
            -7,
            2**31 - 1,
            -(2**31),
            True,
            False,
            0.0,
            -0.0,
            1.5,
            1e300,
            float("inf"),
            float("-inf"),
            None,
            datetime(2026, 1, 31, 23, 59, 58),
            xmlrpc.client.Binary(b"\x00\x01binary\xff"),
            xmlrpc.client.Binary(b""),
            [],
            {},
            [1, [2, [3, [4, {"deep": [{"deeper": {}}]}]]]],
            {"a": {"b": {"c": {"d": [None]}}}},
        ),
    ),
    (
        "entities and unicode",
        _call(
            "a & b < c > d",
            "quotes \" and '",
            "é ü € 中文 😀",
            "tab\tnew\nline",
            {"k&<>": "v&<>", "é": "😀", "": "empty name"},
            ["x & y", "<tag>"],
        ),
    ),
    ("nan", _call(float("nan"))),
    (
        "no parameter",
        b"<?xml version='1.0'?>\n<methodCall>\n<methodName>version</methodName>\n<params>\n</params>\n</methodCall>\n",
    ),
    (
        "no params element",
        b"<?xml version='1.0'?><methodCall><methodName>version</methodName></methodCall>",
    ),
    (
        "compact",
        b"<methodCall><methodName>m</methodName><params><param><value><struct><member><name>a</name><value><i4>1</i4></value></member><member><name>b</name><value><array><data><value>x</value><value><i8>9007199254740993</i8></value></data></array></value></member></struct></value></param></params></methodCall>",
    ),
    (
        "indented",
        b"""<?xml version="1.0" encoding="UTF-8"?>
<methodCall>
  <methodName>execute_kw</methodName>
  <params>
    <param>
      <value>
        <struct>
          <member>
            <name>a</name>
            <value>
              <string>x</string>
            </value>
          </member>
          <member>
            <name>b</name>
            <value>
              <array>
                <data>
                  <value><int>1</int></value>
                  <value><nil/></value>
                </data>
              </array>
            </value>
          </member>
        </struct>
      </value>
    </param>
  </params>
</methodCall>
""",
    ),
    (
        "untyped strings",
        _wrap(
            _param("plain")
            + _param("")
            + _param("  ")
            + _param(
                "<struct><member><name>u</name><value>untyped</value></member><member><name>e</name><value></value></member></struct>"
            )
        ),
    ),
    (
        "whitespace around a typed value",
        _wrap(_param("  <string>x</string>  ") + _param("\n<int>5</int>\n")),
    ),
    (
        "empty containers",
        _wrap(
            _param("<struct></struct>")
            + _param("<array><data></data></array>")
            + _param("<struct>\n</struct>")
            + _param("<array>\n<data>\n</data>\n</array>")
        ),
    ),
    (
        "self-closing containers",
        _wrap(_param("<array><data/></array>") + _param("<struct/>") + _param("<string/>")),
    ),
    ("empty value element", _wrap(_param("") + "<param><value/></param>")),
    (
        "duplicate names",
        _wrap(
            _param(
                "<struct><member><name>a</name><value><int>1</int></value></member><member><name>b</name><value><int>2</int></value></member><member><name>a</name><value><int>3</int></value></member></struct>"
            )
        ),
    ),
    (
        "nil forms",
        _wrap(_param("<nil/>") + _param("<nil></nil>") + _param("<ex:nil/>") + _param("<nil />")),
    ),
    (
        "integers",
        _wrap(
            "".join(
                _param(f"<{tag}>{text}</{tag}>")
                for tag in ("int", "i4", "i8")
                for text in ("0", "-1", "+5", " 7 ", "007", "1_000", "12345678901234567890")
            )
        ),
    ),
    (
        "other integer tags",
        _wrap(_param("<i1>1</i1>") + _param("<i2>2</i2>") + _param("<biginteger>3</biginteger>")),
    ),
    ("bad integers", _wrap(_param("<int>1.5</int>"))),
    ("empty integer", _wrap(_param("<int></int>"))),
    ("unicode digits", _wrap(_param("<int>\u0661\u0662</int>"))),
    ("huge integer", _wrap(_param(f"<int>{'9' * 5000}</int>"))),
    (
        "doubles",
        _wrap(
            "".join(
                _param(f"<double>{text}</double>")
                for text in (
                    "1",
                    "-0",
                    "1e-7",
                    " 2.5 ",
                    "1_0.5",
                    "inf",
                    "-Infinity",
                    "nan",
                    "1e999",
                )
            )
        ),
    ),
    (
        "float and bigdecimal",
        _wrap(_param("<float>1.5</float>") + _param("<bigdecimal>1.50</bigdecimal>")),
    ),
    ("bad double", _wrap(_param("<double>1,5</double>"))),
    ("booleans", _wrap(_param("<boolean>0</boolean>") + _param("<boolean>1</boolean>"))),
    ("bad boolean", _wrap(_param("<boolean>true</boolean>"))),
    ("spaced boolean", _wrap(_param("<boolean> 1</boolean>"))),
    (
        "date times",
        _wrap(
            _param("<dateTime.iso8601>20260131T23:59:59</dateTime.iso8601>")
            + _param("<dateTime.iso8601>00010101T00:00:00</dateTime.iso8601>")
        ),
    ),
    ("spaced date time", _wrap(_param("<dateTime.iso8601>  20260131T23:59:59</dateTime.iso8601>"))),
    ("bad date time", _wrap(_param("<dateTime.iso8601>2026-01-31T23:59:59</dateTime.iso8601>"))),
    (
        "base64",
        _wrap(
            _param("<base64>aGVsbG8=</base64>")
            + _param("<base64>\naGVs\nbG8=\n</base64>")
            + _param("<base64></base64>")
        ),
    ),
    ("bad base64", _wrap(_param("<base64>aGVsbG8</base64>"))),
    ("non-ASCII base64", _wrap(_param("<base64>é</base64>"))),
    (
        "predefined entities",
        _wrap(
            _param("<string>&lt;&gt;&amp;&quot;&apos;</string>")
            + _param("&amp;untyped")
            + _param("<struct><member><name>&amp;</name><value>&lt;</value></member></struct>")
        ),
    ),
    ("character references", _wrap(_param("<string>&#65;&#x42;</string>"))),
    ("invalid character reference", _wrap(_param("<string>&#0;</string>"))),
    ("undefined entity", _wrap(_param("<string>&nbsp;</string>"))),
    ("bare ampersand", _wrap(_param("<string>a & b</string>"))),
    ("method name entity", _wrap(_param("1"), method="exe&amp;cute")),
    ("raw greater-than", _wrap(_param("<string>a > b</string>"))),
    ("CDATA end in text", _wrap(_param("<string>a ]]> b</string>"))),
    ("CDATA", _wrap(_param("<string><![CDATA[<raw> & text]]></string>"))),
    ("comment", _wrap("<!-- a comment -->" + _param("<string>x</string>"))),
    ("comment in a value", _wrap(_param("<string>x<!-- c -->y</string>"))),
    ("processing instruction", _wrap(_param("<string>x</string>") + "<?pi data?>")),
    ("carriage returns", _wrap(_param("<string>a\r\nb\rc</string>"))),
    ("control character", _wrap(_param("<string>a\x01b</string>"))),
    ("NUL", _wrap(_param("<string>a\x00b</string>"))),
    ("U+FFFE", _wrap(_param("<string>a\ufffeb</string>"))),
    ("U+FFFF", _wrap(_param("<string>a\uffffb</string>"))),
    (
        "C1 and line separators",
        _wrap(_param("<string>\x85\x9f\u2028\u2029\ufeff\U0010ffff</string>")),
    ),
    ("invalid UTF-8", _wrap(_param("<string>x</string>")).replace(b"x", b"\xff\xfe")),
    ("surrogate in UTF-8", _wrap(_param("<string>x</string>")).replace(b"x", b"\xed\xa0\x80")),
    ("byte order mark", b"\xef\xbb\xbf" + _wrap(_param("<string>x</string>"))),
    (
        "UTF-16",
        _wrap(_param("<string>x</string>"), prolog="<?xml version='1.0' encoding='UTF-16'?>\n")
        .decode()
        .encode("utf-16"),
    ),
    (
        "Latin-1",
        _wrap(
            _param("<string>\xe9</string>"), prolog="<?xml version='1.0' encoding='ISO-8859-1'?>\n"
        )
        .decode()
        .encode("latin-1"),
    ),
    (
        "declared utf-8 in capitals",
        _wrap(_param("<string>é</string>"), prolog='<?xml version="1.0" encoding="UTF-8"?>'),
    ),
    (
        "standalone declaration",
        _wrap(_param("<string>x</string>"), prolog="<?xml version='1.0' standalone='yes'?>"),
    ),
    ("XML 1.1", _wrap(_param("<string>x</string>"), prolog="<?xml version='1.1'?>")),
    ("no declaration", _wrap(_param("<string>x</string>"), prolog="")),
    (
        "whitespace before the declaration",
        _wrap(_param("<string>x</string>"), prolog=" <?xml version='1.0'?>"),
    ),
    ("whitespace before the root", _wrap(_param("<string>x</string>"), prolog="\n\n")),
    ("trailing whitespace", _wrap(_param("<string>x</string>")) + b"\n \t\n"),
    ("trailing garbage", _wrap(_param("<string>x</string>")) + b"garbage"),
    ("second root", _wrap(_param("<string>x</string>")) * 2),
    ("truncated", _wrap(_param("<string>x</string>"))[:-20]),
    ("empty document", b""),
    ("not XML", b"hello"),
    ("mismatched tags", _wrap(_param("<string>x</int>"))),
    (
        "member outside a struct",
        _wrap(
            _param("<array><data><member><name>a</name><value>1</value></member></data></array>")
        ),
    ),
    ("value directly in a struct", _wrap(_param("<struct><value>1</value></struct>"))),
    ("member without a name", _wrap(_param("<struct><member><value>1</value></member></struct>"))),
    ("member without a value", _wrap(_param("<struct><member><name>a</name></member></struct>"))),
    (
        "member with two values",
        _wrap(
            _param(
                "<struct><member><name>a</name><value>1</value><value>2</value></member></struct>"
            )
        ),
    ),
    (
        "name after value",
        _wrap(_param("<struct><member><value>1</value><name>a</name></member></struct>")),
    ),
    ("array without data", _wrap(_param("<array></array>"))),
    (
        "text between elements",
        _wrap(_param("<struct>junk<member><name>a</name><value>1</value></member></struct>")),
    ),
    ("text before a typed value", _wrap(_param("junk<string>x</string>"))),
    ("two values in a param", _wrap("<param><value>1</value><value>2</value></param>")),
    ("empty param", _wrap("<param></param>")),
    ("value outside a param", _wrap("<value>1</value>")),
    ("unknown tag in a value", _wrap(_param("<foo>1</foo>"))),
    ("unknown element outside values", _wrap("<foo/>" + _param("<string>x</string>"))),
    ("attributes", _wrap(_param('<string lang="en">x</string>'))),
    ("namespaced tags", _wrap(_param("<ex:string xmlns:ex='urn:x'>x</ex:string>"))),
    (
        "namespace on the root",
        _wrap(_param("1")).replace(b"<methodCall>", b"<methodCall xmlns='urn:x'>"),
    ),
    ("space inside a tag", _wrap(_param("<string >x</string >"))),
    ("upper-case tags", _wrap(_param("<STRING>x</STRING>"))),
    ("method response", xmlrpc.client.dumps(({"a": 1},), methodresponse=True).encode()),
    ("fault", xmlrpc.client.dumps(xmlrpc.client.Fault(4, "denied")).encode()),
    (
        "DOCTYPE with an internal entity",
        b'<?xml version="1.0"?>\n<!DOCTYPE methodCall [<!ENTITY x "expanded">]>\n<methodCall><methodName>m</methodName><params><param><value><string>&x;</string></value></param></params></methodCall>',
    ),
    (
        "entity expansion bomb",
        b'<?xml version="1.0"?>\n<!DOCTYPE m [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>\n<methodCall><methodName>m</methodName><params><param><value><string>&d;&d;</string></value></param></params></methodCall>',
    ),
    (
        "external entity",
        b'<?xml version="1.0"?>\n<!DOCTYPE methodCall [<!ENTITY x SYSTEM "file:///etc/hostname">]>\n<methodCall><methodName>m</methodName><params><param><value><string>&x;</string></value></param></params></methodCall>',
    ),
    (
        "external DTD",
        b'<?xml version="1.0"?>\n<!DOCTYPE methodCall SYSTEM "http://127.0.0.1:9/x.dtd">\n<methodCall><methodName>m</methodName><params></params></methodCall>',
    ),
]


# ---------------------------------------------------------------------------
# Random documents
# ---------------------------------------------------------------------------

_ALPHABET = (
    "abcxyz ABC019_-./:@" + "&<>\"'" + "\t\n\r" + "éü€中😀\u0085\u2028\ufeff" + "\x00\x01\x1f\ufffe"
)


def _random_text(rng, clean):
    alphabet = "abcxyz ABC019_-./:@é€中😀&<>\"'\t\n" if clean else _ALPHABET
    return "".join(rng.choice(alphabet) for __ in range(rng.randint(0, 8)))


def _random_value(rng, depth, clean):
    kind = rng.randint(0, 11 if depth < 4 else 8)
    if kind == 0:
        return rng.choice([0, 1, -1, 7, 2**31 - 1, -(2**31)])
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0.0, -0.0, 1.5, -2.25, 1e-7, 1e300, float("inf"), float("nan")])
    if kind == 3:
        return None
    if kind == 4:
        return datetime(
            rng.randint(1900, 2100),
            rng.randint(1, 12),
            rng.randint(1, 28),
            rng.randint(0, 23),
            rng.randint(0, 59),
            rng.randint(0, 59),
        )
    if kind == 5:
        return xmlrpc.client.Binary(bytes(rng.randrange(256) for __ in range(rng.randint(0, 9))))
    if kind in (6, 7, 8):
        return _random_text(rng, clean)
    if kind in (9, 10):
        return {
            _random_text(rng, clean): _random_value(rng, depth + 1, clean)
            for __ in range(rng.randint(0, 6))
        }
    return [_random_value(rng, depth + 1, clean) for __ in range(rng.randint(0, 5))]


def _escape(rng, text):
    """Text escaped as XML, the way one client or another does it."""
    out = []
    for char in text:
        if char == "&":
            out.append(rng.choice(["&amp;", "&amp;", "&#38;"]))
        elif char == "<":
            out.append(rng.choice(["&lt;", "&lt;", "&#60;"]))
        elif char == ">":
            out.append(rng.choice([">", "&gt;"]))
        elif char == '"':
            out.append(rng.choice(['"', "&quot;"]))
        elif char == "'":
            out.append(rng.choice(["'", "&apos;"]))
        else:
            out.append(char)
    return "".join(out)


def _ws(rng):
    return rng.choice(["", "", "", "\n", " ", "\n  ", "\t"])


def _serialize(rng, value):
    """XML of a value with random (valid) formatting choices."""
    ws = _ws
    if value is None:
        inner = rng.choice(["<nil/>", "<nil/>", "<nil></nil>"])
    elif isinstance(value, bool):
        inner = f"<boolean>{int(value)}</boolean>"
    elif isinstance(value, int):
        inner = f"<{rng.choice(['int', 'i4', 'i8'])}>{value}</{{}}>"
        inner = inner.replace("{}", inner[1 : inner.index(">")])
    elif isinstance(value, float):
        inner = f"<double>{value!r}</double>"
    elif isinstance(value, datetime):
        inner = f"<dateTime.iso8601>{value.strftime('%Y%m%dT%H:%M:%S')}</dateTime.iso8601>"
    elif isinstance(value, xmlrpc.client.Binary):
        inner = f"<base64>{base64.b64encode(value.data).decode()}</base64>"
    elif isinstance(value, str):
        text = _escape(rng, value)
        if not text.strip() or rng.random() < 0.7:
            return f"<value>{ws(rng)}<string>{text}</string>{ws(rng)}</value>"
        return f"<value>{text}</value>"
    elif isinstance(value, dict):
        members = "".join(
            f"{ws(rng)}<member>{ws(rng)}<name>{_escape(rng, key)}</name>{ws(rng)}"
            f"{_serialize(rng, item)}{ws(rng)}</member>"
            for key, item in value.items()
        )
        inner = f"<struct>{members}{ws(rng)}</struct>"
    else:
        items = "".join(f"{ws(rng)}{_serialize(rng, item)}" for item in value)
        inner = f"<array>{ws(rng)}<data>{items}{ws(rng)}</data>{ws(rng)}</array>"
    return f"<value>{ws(rng)}{inner}{ws(rng)}</value>"


_MUTATIONS = [
    "<",
    ">",
    "&",
    "&amp;",
    "&#1;",
    "]]>",
    "\r",
    "\x00",
    "é",
    "<value>",
    "</value>",
    "<struct>",
    "</struct>",
    "<member>",
    "</member>",
    "<name>x</name>",
    "<array><data>",
    "</data></array>",
    "<nil/>",
    "<param>",
    "</param>",
    "<!-- c -->",
    " ",
    "\n",
]


def _mutate(rng, data):
    text = data.decode("utf-8", "surrogatepass")
    for __ in range(rng.randint(1, 3)):
        at = rng.randrange(len(text) + 1)
        choice = rng.random()
        if choice < 0.4:
            text = text[:at] + rng.choice(_MUTATIONS) + text[at:]
        elif choice < 0.7:
            text = text[:at] + text[at + rng.randint(1, 12) :]
        else:
            end = at + rng.randint(1, 30)
            text = text[:end] + text[at:end] + text[end:]
    return text.encode("utf-8", "surrogatepass")


def random_documents(count, seed=20260131):
    """``count`` documents: standard encodings of random values, other clients' formatting of
    them, and mutations of both (most of which the standard library refuses)."""
    rng = random.Random(seed)
    documents = []
    for index in range(count):
        clean = index % 4 != 3
        values = tuple(_random_value(rng, 0, clean) for __ in range(rng.randint(0, 4)))
        style = index % 3
        if style == 0:
            data = xmlrpc.client.dumps(values, "m", allow_none=True).encode(
                "utf-8", "surrogatepass"
            )
        else:
            params = "".join(
                f"{_ws(rng)}<param>{_ws(rng)}{_serialize(rng, value)}{_ws(rng)}</param>"
                for value in values
            )
            prolog = rng.choice(
                ["", "<?xml version='1.0'?>", '<?xml version="1.0" encoding="utf-8"?>\n']
            )
            data = (
                f"{prolog}<methodCall>{_ws(rng)}<methodName>{_escape(rng, 'm.n')}</methodName>"
                f"{_ws(rng)}<params>{params}{_ws(rng)}</params>{_ws(rng)}</methodCall>{_ws(rng)}"
            ).encode("utf-8", "surrogatepass")
        documents.append(data)
        if index % 2:
            documents.append(_mutate(rng, data))
    return documents


@tagged("post_install", "-at_install")
class TestXmlrpcDecode(BaseCase):
    """The fast XML-RPC decoder gives exactly what ``xmlrpc.client.loads(data,
    use_datetime=True)`` gives, or leaves the document to it."""

    def _check(self, name, data):
        fast = xmlrpc_decode.decode(data)
        outcome, expected = _stdlib(data)
        if fast is not None:
            self.assertEqual(
                outcome, "ok", f"{name}: decoded, but the standard library refuses it: {expected!r}"
            )
            self.assertTrue(_same(fast, expected), f"{name}: {fast!r} != {expected!r}")
        # Through ``loads``: the same result, or the same exception.
        try:
            result = ("ok", xmlrpc_decode.loads(data))
        except Exception as error:  # compared below
            result = ("error", error)
        self.assertEqual(result[0], outcome, name)
        if outcome == "ok":
            self.assertTrue(_same(result[1], expected), name)
        else:
            self.assertIs(type(result[1]), type(expected), name)
            self.assertEqual(str(result[1]), str(expected), name)
        return fast

    def test_corpus(self):
        decoded = set()
        for name, data in CORPUS:
            with self.subTest(name):
                if self._check(name, data) is not None:
                    decoded.add(name)
        # The common shapes take the fast path...
        for name in (
            "usage batch",
            "every type",
            "entities and unicode",
            "nan",
            "no parameter",
            "compact",
            "indented",
            "untyped strings",
            "whitespace around a typed value",
            "empty containers",
            "duplicate names",
            "integers",
            "doubles",
            "booleans",
            "date times",
            "base64",
            "predefined entities",
            "method name entity",
            "raw greater-than",
            "C1 and line separators",
            "declared utf-8 in capitals",
            "no declaration",
            "whitespace before the root",
            "trailing whitespace",
        ):
            self.assertIn(name, decoded)
        # ... anything that needs more than this decoder knows goes to the standard library,
        # entity declarations first.
        for name in (
            "DOCTYPE with an internal entity",
            "entity expansion bomb",
            "external entity",
            "external DTD",
            "character references",
            "CDATA",
            "comment",
            "carriage returns",
            "Latin-1",
            "UTF-16",
            "byte order mark",
            "namespaced tags",
            "bad boolean",
            "bad integers",
            "method response",
            "fault",
            "other integer tags",
        ):
            self.assertNotIn(name, decoded)

    def test_random_documents(self):
        documents = random_documents(3000)
        fast = sum(
            self._check(f"random {index}", data) is not None for index, data in enumerate(documents)
        )
        # Most standard and well-formed documents take the fast path.
        self.assertGreater(fast, len(documents) // 3)


@tagged("post_install", "-at_install")
class TestXmlrpcRoute(HttpCase):
    """Odoo's XML-RPC routes of a database go through the q2c controller."""

    def test_route_and_round_trip(self):
        routing = self.env["ir.http"].routing_map().bind("localhost")
        for path in ("/xmlrpc/2/object", "/xmlrpc/object", "/xmlrpc/2/common"):
            rule, __ = routing.match(path, method="POST", return_rule=True)
            self.assertIsInstance(rule.endpoint.func.__self__, Q2cRPC, path)
        partner = self.env["res.partner"].create({"name": "XML-RPC & <decoder> é"})
        data = _call(
            self.env.cr.dbname,
            self.env.ref("base.user_admin").id,
            "admin",
            "res.partner",
            "read",
            [partner.ids, ["name"]],
        )
        response = self.url_open(
            "/xmlrpc/2/object", data=data, headers={"Content-Type": "text/xml"}
        )
        result, __ = xmlrpc.client.loads(response.content)
        self.assertEqual(result, ([{"id": partner.id, "name": "XML-RPC & <decoder> é"}],))
        # A document the decoder leaves to the standard library (a DOCTYPE declaring
        # entities): decoded there as before, here into a call without its arguments, which
        # fails as it always did.
        bomb = CORPUS[[name for name, __ in CORPUS].index("entity expansion bomb")][1]
        with mute_logger("odoo.http"):
            response = self.url_open(
                "/xmlrpc/2/object", data=bomb, headers={"Content-Type": "text/xml"}
            )
        with self.assertRaises(xmlrpc.client.Fault):
            xmlrpc.client.loads(response.content)
