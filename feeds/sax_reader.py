"""The SAX driver feedparser is given (feedparser.api.PREFERRED_XML_PARSERS names this module).

It is the standard expat driver with one change: attribute lookups by qualified name take
constant time. The standard `AttributesNSImpl.getValueByQName` searches every attribute, and
feedparser calls it once per attribute, so one start tag with 25,000 attributes (200 KB) took
5 seconds, four times as long at twice the size.
"""
from __future__ import annotations

from typing import Any
from xml.sax.expatreader import ExpatParser
from xml.sax.xmlreader import AttributesNSImpl

__all__ = ["create_parser"]


class _Attributes(AttributesNSImpl):
    """Attributes with a reverse index from qualified name to (namespace, local name)."""

    def __init__(self, attrs: dict[Any, str], qnames: dict[Any, str]) -> None:
        super().__init__(attrs, qnames)
        self._values = attrs
        self._by_qname = {qname: name for name, qname in qnames.items()}

    def getValueByQName(self, name: str) -> str:  # noqa: N802 - the SAX interface's name
        return self._values[self._by_qname[name]]

    def getNameByQName(self, name: str) -> Any:  # noqa: N802
        return self._by_qname[name]


class _Handler:
    """Passes every event on to the content handler, start tags with indexed attributes."""

    def __init__(self, handler: Any) -> None:
        self._handler = handler

    def startElementNS(self, name: Any, qname: Any, attrs: Any) -> None:  # noqa: N802
        # The standard driver builds AttributesNSImpl(values, qnames) and keeps both as is.
        self._handler.startElementNS(name, qname, _Attributes(attrs._attrs, attrs._qnames))

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._handler, attr)


class _Reader(ExpatParser):
    def setContentHandler(self, handler: Any) -> None:  # noqa: N802
        super().setContentHandler(_Handler(handler))


def create_parser(*args: Any, **kwargs: Any) -> ExpatParser:
    """What xml.sax.make_parser calls."""
    return _Reader(*args, **kwargs)
