"""Types of the optional C accelerator (bot/core/_fastjunit.c): pyexpat's subset + JUnit path."""

from collections.abc import Callable
from typing import Any

EXPAT_VERSION: str

class Parser:
    """An expat reader with the xmlparser interface xmlstream/junit/dotnet use."""

    StartElementHandler: Callable[[str, dict[str, str]], object] | None
    EndElementHandler: Callable[[str], object] | None
    CharacterDataHandler: Callable[[str], object] | None
    StartDoctypeDeclHandler: Callable[..., object] | None
    EntityDeclHandler: Callable[..., object] | None
    ExternalEntityRefHandler: Callable[..., object] | None
    buffer_text: bool
    buffer_size: int
    @property
    def CurrentByteIndex(self) -> int: ...
    def Parse(self, data: bytes | bytearray | memoryview, isfinal: int = 0) -> int: ...
    def SetParamEntityParsing(self, flag: int) -> int: ...
    def accelerate(self, handlers: Any, *, counts: Any, passed_many: Callable[[list[str]], None],
                   refuse_cap: Callable[[], object], refused: type[BaseException],
                   depth_message: str, max_depth: int, max_name: int, max_testcases: int,
                   system_err: bool) -> None: ...
    def drain(self) -> None: ...
