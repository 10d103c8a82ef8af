"""ATC's --keep_dtype lists: the nodes kept in fp32, by name or as OpType::<type> lines."""
from common import fileio
from common.errors import UserError

TYPE_PREFIX = "OpType::"


class KeepSet:
    """The nodes a --keep_dtype list keeps in fp32: node names and operator types (OpType::<type> lines)."""

    def __init__(self, names=(), types=()):
        self.names = set(names)
        self.types = set(types)

    def __contains__(self, node):
        return node.name in self.names or node.op_type in self.types

    def __bool__(self):
        return bool(self.names or self.types)

    def lines(self):
        return sorted(self.names) + [TYPE_PREFIX + t for t in sorted(self.types)]

    def union(self, names=(), types=()):
        return KeepSet(self.names | set(names), self.types | set(types))


def read_keep_file(path):
    """ATC's --keep_dtype file: one node name per line, or OpType::<type>; blank lines and # comments skipped."""
    names, types = [], []
    text = fileio.read_text(path, "--keep_dtype list (one node name or OpType::<type> per line)")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(TYPE_PREFIX):
            op = line[len(TYPE_PREFIX):].strip()
            if not op:
                raise UserError(f"{path}: line {line!r}: expected OpType::<operator type> such as OpType::Conv")
            types.append(op)
        else:
            names.append(line)
    return KeepSet(names, types)


def check_keep_names(model, keep, source):
    """A kept name that is no node of the model is a user mistake (a keep list made for another model)."""
    known = {n.name for n in model.graph.node}
    unknown = sorted(keep.names - known)
    if unknown:
        raise UserError(f"{source}: node {unknown[0]!r} is not in the model ({len(unknown)} unknown name(s)); "
                        f"expected node names of this ONNX file, or OpType::<type> lines")
