"""Maps key paths of a YAML document to line numbers, so config errors point at the line to fix."""

import yaml


def parse_with_lines(text: str):
    """Parse YAML; return (data, {path tuple: line number}) ."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    lines: dict[tuple, int] = {}

    def walk(n, path):
        if n is None:
            return
        lines[path] = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                walk(v, path + (k.value,))
                lines[path + (k.value,)] = k.start_mark.line + 1
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                walk(v, path + (i,))

    walk(node, ())
    return yaml.safe_load(text), lines


def line_of(lines: dict, path: tuple) -> int | None:
    """The line of the deepest existing prefix of path."""
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None
