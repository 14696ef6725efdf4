"""Maps key paths of a YAML document to line numbers, so config errors point at the line to fix.

The document is parsed once, with bounds: aliases may repeat a part (an anchor for shared contacts is handy),
but the whole, aliases expanded, may hold at most MAX_NODES nodes, nested at most MAX_DEPTH deep. Without
them a few lines of nested aliases ("billion laughs") expand to billions of nodes and hold a server for
seconds or exhaust its memory; a national config of every office and user stays far below either bound.
"""

import yaml

MAX_NODES = 100_000
MAX_DEPTH = 40


class TooComplex(yaml.YAMLError):
    """A YAML document past MAX_NODES or MAX_DEPTH (aliases expanded); nothing of it is used."""

    def __init__(self, problem: str):
        super().__init__(problem)
        self.problem, self.problem_mark = problem, None


class _Loader(yaml.SafeLoader):
    """The safe loader, refusing nesting past MAX_DEPTH while it composes (before Python's recursion limit)."""

    depth = 0

    def compose_node(self, parent, index):
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise TooComplex(f"the document is nested too deeply; at most {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def parse_with_lines(text: str):
    """Parse YAML; return (data, {path tuple: line number}) ."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        lines = _lines(node)
        return (loader.construct_document(node) if node is not None else None), lines
    finally:
        loader.dispose()


def _lines(root) -> dict[tuple, int]:
    """The line of every key path, aliases expanded, within the bounds (TooComplex past them)."""
    lines: dict[tuple, int] = {}
    stack, visited = ([(root, ())] if root is not None else []), 0
    while stack:
        n, path = stack.pop()
        visited += 1
        if visited > MAX_NODES:
            raise TooComplex(f"the document expands to more than {MAX_NODES:,} values (through aliases?); "
                             "write it out without nested aliases")
        if len(path) > MAX_DEPTH:
            raise TooComplex(f"the document is nested too deeply; at most {MAX_DEPTH} levels")
        lines.setdefault(path, n.start_mark.line + 1)
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                name = k.value if isinstance(k, yaml.ScalarNode) else f"<key on line {k.start_mark.line + 1}>"
                key = path + (name,)
                stack.append((v, key))
                lines[key] = k.start_mark.line + 1
        elif isinstance(n, yaml.SequenceNode):
            stack.extend((v, path + (i,)) for i, v in enumerate(n.value))
    return lines


def line_of(lines: dict, path: tuple) -> int | None:
    """The line of the deepest existing prefix of path."""
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None
