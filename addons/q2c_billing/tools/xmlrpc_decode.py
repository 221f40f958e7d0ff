"""A faster decoder of XML-RPC calls, equivalent to ``xmlrpc.client.loads(data,
use_datetime=True)`` (what Odoo core's ``/xmlrpc`` routes run on each request).

The standard library parses with expat and calls back into Python three times per element
(start, data, end): about 10 µs per usage event of ``q2c.usage.event.ingest``, more than
storing it. This decoder reads the common shape of a call in a few regular expression matches
per struct or run of values and builds the same Python values with the same functions
(``int``, ``float``, ``datetime.strptime``, ``xmlrpc.client.Binary``...).

It only decides what it is sure of: a document in UTF-8 (or ASCII) made of ``methodCall``,
``methodName``, ``params``, ``param``, ``value``, ``struct``, ``member``, ``name``,
``array``, ``data`` and the scalar types ``string``, ``int``, ``i4``, ``i8``, ``double``,
``boolean``, ``dateTime.iso8601``, ``base64`` and ``nil``, without attributes, with
whitespace between elements, the five predefined entities in text and nothing else. For
anything else (a DOCTYPE, an entity or character reference, a comment, CDATA, another
encoding, a namespace, a carriage return, a character XML forbids, an unknown tag, a value
the standard conversion refuses...), it returns None and ``loads`` hands the document to the
standard library, which decides (result or exception) exactly as it does without this module.
So no entity is ever expanded or fetched here, and a document is never accepted here that
the standard library would refuse.
"""

import re
import sys
import xmlrpc.client
from datetime import datetime

# Possessive quantifiers (Python 3.11+) spare the regular expression engine from
# backtracking; the matches are the same without them.
_POSSESSIVE = "+" if sys.version_info >= (3, 11) else ""
# Whitespace between elements (XML's, less the carriage return, which is refused).
_W = "[ \t\n]*" + _POSSESSIVE
# Text content (entities are decoded afterwards; any other markup does not match).
_T = "[^<]*" + _POSSESSIVE
_TAGS = r"string|int|i4|i8|double|boolean|dateTime\.iso8601|base64"


def _scalar_value(tag_group):
    """The inside of a ``<value>`` holding a scalar: typed, untyped (a string) or nil."""
    return f"(?:{_W}<(?P<{tag_group}>{_TAGS})>{_T}</(?P={tag_group})>{_W}|{_T}|{_W}<nil/>{_W})"


def _member(tag_group):
    return (
        f"<member>{_W}<name>{_T}</name>{_W}<value>{_scalar_value(tag_group)}</value>{_W}</member>"
    )


def _flat_struct(tag_group):
    """A struct whose members are scalars."""
    return f"<struct>(?:{_W}{_member(tag_group)})*{_W}</struct>"


def _member_of_struct(tag_group, inner_tag_group):
    """A member whose value is a scalar or a flat struct."""
    return (
        f"<member>{_W}<name>{_T}</name>{_W}<value>"
        f"(?:{_scalar_value(tag_group)}|{_W}{_flat_struct(inner_tag_group)}{_W})"
        f"</value>{_W}</member>"
    )


# A member of a struct (in a run of them, matched as a block): name, scalar tag, its text,
# the text of an untyped value, "<nil/>", "<struct>" and the members of a flat struct (and the
# inner tag, unused).
_MEMBER = re.compile(
    f"{_W}<member>{_W}<name>({_T})</name>{_W}<value>"
    f"(?:{_W}<({_TAGS})>({_T})</\\2>{_W}"
    f"|({_T})"
    f"|{_W}(<nil/>){_W}"
    f"|{_W}(<struct>)((?:{_W}{_member('a')})*){_W}</struct>{_W})"
    f"</value>{_W}</member>"
)
# An item of an array of scalars (in a run of them): scalar tag, its text, untyped text,
# "<nil/>".
_ITEM = re.compile(
    f"{_W}<value>(?:{_W}<({_TAGS})>({_T})</\\1>{_W}|({_T})|{_W}(<nil/>){_W})</value>"
)

# The tokens of the body of a call. Each alternative is one capturing group; ``lastindex``
# of a match says which (its inner groups are numbered after it).
_ALTERNATIVES = (
    # a value that is a struct of scalars and flat structs (a usage event, properties
    # included): its members
    (
        "STRUCT",
        f"<value>{_W}<struct>((?:{_W}{_member_of_struct('b', 'c')})*){_W}</struct>{_W}</value>",
    ),
    # members of scalars and flat structs, in a struct being read
    ("MEMBERS", f"((?:{_W}{_member_of_struct('d', 'e')})+)"),
    # values that are scalars, in an array being read or as a parameter
    ("ITEMS", f"((?:{_W}<value>{_scalar_value('f')}</value>)+)"),
    # a member whose value is a struct or an array, opened: its name, "<struct>" or nothing
    (
        "OPEN_MEMBER",
        f"<member>{_W}<name>({_T})</name>{_W}<value>{_W}(?:(<struct>)|<array>{_W}<data>)",
    ),
    # a value that is a struct or an array, opened: "<struct>" or nothing
    ("OPEN_VALUE", f"<value>{_W}(?:(<struct>)|<array>{_W}<data>)"),
    ("CLOSE_STRUCT", f"</struct>{_W}</value>"),
    ("CLOSE_ARRAY", f"</data>{_W}</array>{_W}</value>"),
    ("CLOSE_MEMBER", "</member>"),
    ("OPEN_PARAM", "<param>"),
    ("CLOSE_PARAM", "</param>"),
    ("END", rf"</params>{_W}</methodCall>{_W}\Z"),
)


def _compile_tokens():
    parts, numbers, group = [], {}, 0
    for name, pattern in _ALTERNATIVES:
        group += 1
        numbers[name] = group
        parts.append(f"({pattern})")
        group += re.compile(pattern).groups
    return re.compile(f"{_W}(?:{'|'.join(parts)})"), numbers


_TOKEN, _NUMBERS = _compile_tokens()
STRUCT = _NUMBERS["STRUCT"]
MEMBERS = _NUMBERS["MEMBERS"]
ITEMS = _NUMBERS["ITEMS"]
OPEN_MEMBER = _NUMBERS["OPEN_MEMBER"]
OPEN_VALUE = _NUMBERS["OPEN_VALUE"]
CLOSE_STRUCT = _NUMBERS["CLOSE_STRUCT"]
CLOSE_ARRAY = _NUMBERS["CLOSE_ARRAY"]
CLOSE_MEMBER = _NUMBERS["CLOSE_MEMBER"]
OPEN_PARAM = _NUMBERS["OPEN_PARAM"]
CLOSE_PARAM = _NUMBERS["CLOSE_PARAM"]
END = _NUMBERS["END"]

# Up to the first parameter: the XML declaration (version 1.0, UTF-8), the method name.
_PROLOG = re.compile(
    r"(?:<\?xml version=([\"'])1\.0\1(?: encoding=([\"'])(?i:utf-8)\2)?"
    + _W
    + r"\?>)?"
    + _W
    + "<methodCall>"
    + _W
    + f"<methodName>({_T})</methodName>"
    + _W
    + "<params>"
)
# Bytes XML forbids (control characters but tab and line feed) and the carriage return
# (which XML turns into a line feed): left to the standard library.
_CONTROL = bytes(range(32)).replace(b"\t", b"").replace(b"\n", b"")
_ENTITY = re.compile("&(lt|gt|amp|quot|apos);")
_OTHER_AMPERSAND = re.compile("&(?!(?:lt|gt|amp|quot|apos);)")
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}


class _Unusual(Exception):
    """The document is left to the standard library."""


def _entity(match):
    return _ENTITIES[match.group(1)]


def _text(text):
    """Text content with its predefined entities decoded (any other reference: unusual)."""
    if "&" not in text:
        return text
    if _OTHER_AMPERSAND.search(text):
        raise _Unusual
    return _ENTITY.sub(_entity, text)


def _convert(tag, text):
    """The value of ``<tag>text</tag>``, made as ``xmlrpc.client.Unmarshaller`` makes it."""
    text = _text(text)
    if tag == "string":
        return text
    if tag == "int" or tag == "i4" or tag == "i8":
        return int(text)
    if tag == "double":
        return float(text)
    if tag == "boolean":
        if text == "0":
            return False
        if text == "1":
            return True
        raise _Unusual  # the standard library raises TypeError
    if tag == "base64":
        value = xmlrpc.client.Binary()
        value.decode(text.encode("ascii"))
        return value
    # dateTime.iso8601, with use_datetime=True
    return datetime.strptime(text, "%Y%m%dT%H:%M:%S")


def _members(block, struct):
    """``struct`` filled with the members of ``block`` (scalars and flat structs)."""
    for name, tag, text, untyped, nil, is_struct, inner, __ in _MEMBER.findall(block):
        if "&" in name:
            name = _text(name)
        if tag == "string":
            struct[name] = text if "&" not in text else _text(text)
        elif tag == "int" or tag == "i4":
            # As _convert: an entity in a number leaves a character int() refuses anyway.
            struct[name] = int(text)
        elif tag:
            struct[name] = _convert(tag, text)
        elif nil:
            struct[name] = None
        elif is_struct:
            struct[name] = _members(inner, {})
        else:
            struct[name] = _text(untyped)
    return struct


def _items(block, array):
    """``array`` extended with the values of ``block`` (scalars)."""
    for tag, text, untyped, nil in _ITEM.findall(block):
        if tag:
            array.append(_convert(tag, text))
        elif nil:
            array.append(None)
        else:
            array.append(_text(untyped))
    return array


def decode(data):
    """``(params, method_name)`` of an XML-RPC call of the common shape, None for any other
    document (see the module's docstring)."""
    if type(data) is not bytes:
        return None
    if len(data.translate(None, _CONTROL)) != len(data) or b"]]>" in data:
        return None
    if data.isascii():
        document = data.decode("ascii")
    else:
        # U+FFFE and U+FFFF are not XML characters (surrogates are not valid UTF-8).
        if b"\xef\xbf\xbe" in data or b"\xef\xbf\xbf" in data:
            return None
        try:
            document = data.decode("utf-8")
        except UnicodeDecodeError:
            return None
    prolog = _PROLOG.match(document)
    if prolog is None:
        return None
    try:
        return _decode_body(document, prolog)
    except Exception:  # whatever fails here, the standard library decides
        return None


def _decode_body(document, prolog):
    method = _text(prolog.group(3))
    params = []
    # ``current``: the struct (dict) or array (list) being read, None between parameters;
    # ``stack``: the enclosing ones, each with whether it is a struct and the token that
    # must follow the end of the one inside it (</member>, </param> or none).
    current, in_struct, stack = None, False, []
    in_param = False  # after <param>, before its value
    expect = 0  # the token that must come next, if any
    match = _TOKEN.scanner(document, prolog.end()).match
    while True:
        token = match()
        if token is None:
            return None
        kind = token.lastindex
        if expect:
            if kind != expect:
                return None
            expect = 0
        elif kind == STRUCT:
            if in_struct:
                return None
            value = _members(token.group(kind + 1), {})
            if current is not None:
                current.append(value)
            elif in_param:
                params.append(value)
                in_param, expect = False, CLOSE_PARAM
            else:
                return None
        elif kind == MEMBERS:
            if not in_struct:
                return None
            _members(token.group(kind + 1), current)
        elif kind == ITEMS:
            if in_struct:
                return None
            if current is not None:
                _items(token.group(kind + 1), current)
            elif in_param:
                values = _items(token.group(kind + 1), [])
                if len(values) != 1:
                    return None
                params.append(values[0])
                in_param, expect = False, CLOSE_PARAM
            else:
                return None
        elif kind == OPEN_MEMBER:
            if not in_struct:
                return None
            value = {} if token.group(kind + 2) else []
            current[_text(token.group(kind + 1))] = value
            stack.append((current, True, CLOSE_MEMBER))
            current, in_struct = value, type(value) is dict
        elif kind == OPEN_VALUE:
            if in_struct:
                return None
            value = {} if token.group(kind + 1) else []
            if current is not None:
                current.append(value)
                stack.append((current, False, 0))
            elif in_param:
                params.append(value)
                in_param = False
                stack.append((None, False, CLOSE_PARAM))
            else:
                return None
            current, in_struct = value, type(value) is dict
        elif kind == CLOSE_STRUCT or kind == CLOSE_ARRAY:
            if current is None or in_struct != (kind == CLOSE_STRUCT):
                return None
            current, in_struct, expect = stack.pop()
        elif kind == OPEN_PARAM:
            if current is not None or in_param:
                return None
            in_param = True
        elif kind == END:
            if current is not None or in_param:
                return None
            return tuple(params), method
        else:  # </member> or </param> out of place
            return None


def loads(data):
    """``xmlrpc.client.loads(data, use_datetime=True)``, faster on the common shape."""
    result = decode(data)
    if result is None:
        return xmlrpc.client.loads(data, use_datetime=True)
    return result
