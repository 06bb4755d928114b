"""Helpers for the translation tests: a scan for user-facing strings that skip gettext, and a PO reader.

The scan reads the source with ``ast`` and looks at the places where RedGX passes text to a
person: admin names and help texts, admin actions and messages, API errors and error bodies,
and management command help and output. A string literal there, or an f-string or a
``%``-formatted literal, is unmarked unless it goes through ``django.utils.translation``.

The scan checks only the text written at those places. Text that reaches them through a
variable is not followed. Help texts of DRF serializer fields are not checked. They only document the OpenAPI schema,
which stays in English with the other engineering docs.
"""

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

TRANSLATION_MODULE = "django.utils.translation"
# Translated when called, so a call at import time freezes the default language.
EAGER_FUNCTIONS = {"gettext", "ngettext", "pgettext", "npgettext"}

# Django and DRF exceptions whose message reaches a client or an operator. The scan adds every
# class of the project that derives from one of them, and every exception class of the project
# whose constructor takes a ``message``.
FRAMEWORK_ERRORS = {
    "APIException",
    "AuthenticationFailed",
    "CommandError",
    "MethodNotAllowed",
    "NotAuthenticated",
    "NotFound",
    "ParseError",
    "PermissionDenied",
    "Throttled",
    "ValidationError",
}
MESSAGE_KEYWORDS = {"detail", "message"}

# Model field classes whose first positional argument is the related model, not a verbose name.
RELATION_FIELDS = {"ForeignKey", "OneToOneField", "ManyToManyField"}
MESSAGE_LEVELS = {"debug", "info", "success", "warning", "error"}
# Class attributes that Django shows to people: model and app names, command help, error details.
TEXT_ATTRIBUTES = {"verbose_name", "verbose_name_plural", "help", "default_detail"}


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    place: str
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.place}: {self.text}"


@dataclass(frozen=True)
class MessageArgument:
    """Where a callable takes its user-facing text: a positional index and keyword names."""

    index: int
    keywords: frozenset[str]


def python_sources(root: Path, folders: list[str]) -> list[Path]:
    files = []
    for folder in folders:
        files.extend(path for path in sorted((root / folder).rglob("*.py")) if "migrations" not in path.parts)
    return files


def error_classes(sources: list[Path]) -> dict[str, MessageArgument]:
    """Map each exception class name to where its constructor takes the message."""
    bases: dict[str, set[str]] = {}
    message_parameters: dict[str, MessageArgument] = {}
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ClassDef):
                continue
            bases[node.name] = {_last_name(base) for base in node.bases}
            argument = _message_parameter(node)
            if argument is not None:
                message_parameters[node.name] = argument

    framework_argument = MessageArgument(0, frozenset(MESSAGE_KEYWORDS))
    classes = dict.fromkeys(FRAMEWORK_ERRORS, framework_argument)
    # Subclasses of a known error class, transitively, take the message where their base does.
    changed = True
    while changed:
        changed = False
        for name, names in bases.items():
            known = [classes[base] for base in names if base in classes]
            if name not in classes and known:
                classes[name] = message_parameters.get(name, known[0])
                changed = True
    for name, argument in message_parameters.items():
        classes.setdefault(name, argument)
    return classes


def _message_parameter(node: ast.ClassDef) -> MessageArgument | None:
    for item in node.body:
        if isinstance(item, ast.FunctionDef) and item.name == "__init__":
            names = [argument.arg for argument in item.args.args[1:]]
            keyword_only = [argument.arg for argument in item.args.kwonlyargs]
            for name in ("message", "template"):
                if name in names:
                    return MessageArgument(names.index(name), frozenset({name}))
                if name in keyword_only:
                    return MessageArgument(-1, frozenset({name}))
    return None


def _last_name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


class _Imports:
    """The dotted names that a module's local names were imported as."""

    def __init__(self, tree: ast.Module):
        self.names: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.names[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        self.names[top] = top
            elif isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    self.names[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    def qualified(self, node: ast.expr) -> str:
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return ""
        parts.append(self.names.get(node.id, node.id))
        return ".".join(reversed(parts))


def _is_literal_text(node: ast.expr | None) -> bool:
    """Return True for text written in the source, False for a variable or a gettext call."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and any(character.isalpha() for character in node.value)
    if isinstance(node, ast.JoinedStr):
        return any(_is_literal_text(part) for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return _is_literal_text(node.left)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _is_literal_text(node.left) or _is_literal_text(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return _is_literal_text(node.func.value)
    return False


def _is_field(name: str) -> bool:
    return name.endswith("Field") or name in RELATION_FIELDS


def _argument(call: ast.Call, index: int, keywords: set[str] | frozenset[str]) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg in keywords:
            return keyword.value
    if 0 <= index < len(call.args):
        return call.args[index]
    return None


class _Scanner(ast.NodeVisitor):
    def __init__(self, path: str, source: str, tree: ast.Module, errors: dict[str, MessageArgument]):
        self.path = path
        self.source = source
        self.imports = _Imports(tree)
        self.errors = errors
        self.findings: list[Finding] = []

    def report(self, node: ast.expr, place: str) -> None:
        text = ast.get_source_segment(self.source, node) or ""
        self.findings.append(Finding(self.path, node.lineno, place, text[:80]))

    def check(self, node: ast.expr | None, place: str) -> None:
        if _is_literal_text(node):
            self.report(node, place)

    def visit_Call(self, call: ast.Call) -> None:
        callee = self.imports.qualified(call.func)
        name = _last_name(call.func)
        if callee.startswith(("django.db.models.", "django.forms.")) and _is_field(name):
            for keyword in ("verbose_name", "verbose_name_plural", "help_text"):
                self.check(_argument(call, -1, {keyword}), f"{name}({keyword}=...)")
            if name not in RELATION_FIELDS and call.args:
                self.check(call.args[0], f"{name}(verbose name)")
        if callee in {"django.contrib.admin.display", "django.contrib.admin.action"}:
            self.check(_argument(call, -1, {"description"}), f"@admin.{name}(description=...)")
        if callee.startswith("django.contrib.messages.") and name in MESSAGE_LEVELS:
            self.check(_argument(call, 1, {"message"}), f"messages.{name}")
        if name == "message_user":
            self.check(_argument(call, 1, {"message"}), "message_user")
        if name == "error_response":
            self.check(_argument(call, 2, {"message"}), "error_response")
        if name == "error_detail":
            self.check(_argument(call, 1, {"message"}), "error_detail")
        if name == "add_argument":
            self.check(_argument(call, -1, {"help"}), "add_argument(help=...)")
        if name == "write" and _last_name(getattr(call.func, "value", call.func)) in {"stdout", "stderr"}:
            self.check(_argument(call, 0, set()), "command output")
        if name in self.errors:
            argument = self.errors[name]
            self.check(_argument(call, argument.index, argument.keywords), name)
        self.generic_visit(call)

    def visit_Dict(self, node: ast.Dict) -> None:
        # Response bodies: the RedGX envelope's error carries a "message" for people.
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and key.value == "message":
                self.check(value, '{"message": ...}')
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for statement in node.body:
            if not isinstance(statement, ast.Assign) or len(statement.targets) != 1:
                continue
            target = statement.targets[0]
            if not isinstance(target, ast.Name):
                continue
            if target.id in TEXT_ATTRIBUTES:
                self.check(statement.value, f"{node.name}.{target.id}")
            if target.id == "default_error_messages" and isinstance(statement.value, ast.Dict):
                for value in statement.value.values:
                    self.check(value, f"{node.name}.default_error_messages")
        self.generic_visit(node)


def unmarked_strings(path: Path, root: Path, errors: dict[str, MessageArgument], source: str | None = None):
    """Return the user-facing string literals in one file that skip Django's translation functions."""
    source = path.read_text() if source is None else source
    tree = ast.parse(source, str(path))
    scanner = _Scanner(_relative(path, root), source, tree, errors)
    scanner.visit(tree)
    return scanner.findings


def eager_translations(path: Path, root: Path, source: str | None = None) -> list[Finding]:
    """Return calls to gettext (not gettext_lazy) that run at import time.

    Module level, class bodies, decorators and default arguments run once, before any request
    has picked a language, so the text stays in the default language for everyone.
    """
    source = path.read_text() if source is None else source
    tree = ast.parse(source, str(path))
    imports = _Imports(tree)
    eager = {f"{TRANSLATION_MODULE}.{name}" for name in EAGER_FUNCTIONS}
    findings = []
    relative = _relative(path, root)

    def visit(node: ast.AST, at_import: bool) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for child in [*node.decorator_list, *node.args.defaults, *node.args.kw_defaults]:
                if child is not None:
                    visit(child, at_import)
            for child in node.body:
                visit(child, False)
            return
        if isinstance(node, ast.Lambda):
            visit(node.body, False)
            return
        if at_import and isinstance(node, ast.Call) and imports.qualified(node.func) in eager:
            text = ast.get_source_segment(source, node) or ""
            findings.append(Finding(relative, node.lineno, "gettext at import time", text[:80]))
        for child in ast.iter_child_nodes(node):
            visit(child, at_import)

    visit(tree, True)
    return findings


def _relative(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


@dataclass
class PoEntry:
    msgid: str
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: list[str] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)

    @property
    def key(self) -> tuple[str | None, str]:
        return self.msgctxt, self.msgid


_KEYWORD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?)\s+(".*")$')


def read_po(text: str) -> list[PoEntry]:
    """Parse the entries of a PO file, leaving out the header (empty msgid) and obsolete entries."""
    entries: list[PoEntry] = []
    flags: set[str] = set()
    current: PoEntry | None = None
    last_keyword = None
    for line in text.splitlines():
        if line.startswith("#~") or not line.strip():
            continue
        if line.startswith("#,"):
            flags |= {flag.strip() for flag in line[2:].split(",")}
            continue
        if line.startswith("#"):
            continue
        if line.startswith('"'):
            _append(current, last_keyword, ast.literal_eval(line))
            continue
        match = _KEYWORD.match(line)
        if match is None:
            raise ValueError(f"Unexpected PO line: {line!r}")
        keyword, value = match.group(1), ast.literal_eval(match.group(2))
        if keyword in {"msgctxt", "msgid"} and (current is None or current.msgstr):
            current = PoEntry(msgid="", flags=flags)
            flags = set()
            entries.append(current)
        _set(current, keyword, value)
        last_keyword = keyword
    return [entry for entry in entries if entry.msgid]


def _set(entry: PoEntry, keyword: str, value: str) -> None:
    if keyword.startswith("msgstr"):
        entry.msgstr.append(value)
    else:
        setattr(entry, keyword, value)


def _append(entry: PoEntry, keyword: str, value: str) -> None:
    if keyword.startswith("msgstr"):
        entry.msgstr[-1] += value
    else:
        setattr(entry, keyword, getattr(entry, keyword) + value)
