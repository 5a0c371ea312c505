"""Verilog generation for the ``hw`` components."""

from amaranth.back import verilog

__all__ = ["generate_verilog"]


def generate_verilog(component, *, name, header_lines=(), header=None):
    """Verilog text of ``component`` as module ``name``, preceded by a ``//`` header.

    Wraps :func:`amaranth.back.verilog.convert` with ``emit_src=False`` (no source paths in
    the output), so the result depends only on the component's parameters and the tool
    versions: byte-for-byte identical across runs and machines.

    Parameters
    ----------
    component : wiring.Component
        The component to convert (its signature gives the ports).
    name : str
        Verilog module name of the top level.
    header_lines : sequence of str
        Header lines, each written as ``// <line>``; must not contain newlines.
    header : str, optional
        Alternative spelling (``docs/design.md``): a multi-line string, split into lines.
        Give ``header_lines`` or ``header``, not both.
    """
    if header is not None:
        if header_lines:
            raise ValueError("generate_verilog: give header_lines or header, not both")
        header_lines = header.splitlines()
    if isinstance(header_lines, str):
        raise ValueError(f"generate_verilog: header_lines={header_lines!r} is not allowed; "
                         f"allowed: a sequence of one-line strings")
    lines = []
    for line in header_lines:
        if not isinstance(line, str) or "\n" in line or "\r" in line:
            raise ValueError(f"generate_verilog: header line {line!r} is not allowed; "
                             f"allowed: a string without line breaks")
        lines.append(f"// {line}".rstrip() + "\n")
    text = verilog.convert(component, name=name, emit_src=False)
    return "".join(lines) + text
