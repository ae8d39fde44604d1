"""bookbuild.nbexport (book/_ext): a MyST notebook made readable in a plain Jupyter."""

from __future__ import annotations

import nbformat

from bookbuild import nbexport


def glue_output(name: str, text: str, **extra: str) -> dict:
    data = {nbexport.GLUE_PREFIX + "text/plain": text}
    data.update({nbexport.GLUE_PREFIX + k: v for k, v in extra.items()})
    return nbformat.v4.new_output(
        "display_data",
        data=data,
        metadata={"scrapbook": {"name": name, "mime_prefix": nbexport.GLUE_PREFIX}},
    )


def notebook(markdown: str) -> nbformat.NotebookNode:
    code = nbformat.v4.new_code_cell("glue('acc', 0.91234, display=False)")
    code.outputs = [
        glue_output("acc", "0.91234"),
        glue_output("word", "'higher'"),
        glue_output("fig", "<Figure>", **{"image/png": "iVBORw0KGgo="}),
    ]
    nb = nbformat.v4.new_notebook(
        cells=[code, nbformat.v4.new_markdown_cell(markdown)],
        metadata={"jupytext": {"text_representation": {}}},
    )
    return nb


RESOLVER = nbexport.Resolver(
    numref=lambda text: "Fig. 3",
    eq=lambda text: "(7)",
    cite=lambda keys: "(Bishop, 2006)",
    doc=lambda text: "Variational inference",
    exercise_number=lambda label: "4",
    figure_number=lambda label: "3",
    equation_number=lambda label: "7",
)


def test_roles_become_text():
    md = (
        "(sec-x)=\n% a comment\nAccuracy {glue:text}`acc:.2f`, {glue:text}`word`,"
        " see {numref}`fig-x`, {eq}`e1`, {cite}`bishop2006`, {doc}`vi`,"
        " [next](vi.md#top)."
    )
    out = nbexport.convert(notebook(md), RESOLVER, title="T", profile="smoke")
    text = out.cells[2].source
    assert text == (
        "Accuracy 0.91, higher, see Fig. 3, (7), (Bishop, 2006),"
        " Variational inference, [next](vi.ipynb#top)."
    )
    assert "pip install -r requirements.txt" in out.cells[0].source
    assert "`smoke`" in out.cells[0].source
    assert "jupytext" not in out.metadata
    nbformat.validate(out)


def test_directives_become_markdown():
    md = """```{exercise-start}
:label: ex-1
```

Do it.

```{exercise-end}
```

```{solution-start} ex-1
```

```{glue:figure} fig
:name: fig-a

A caption with {glue:text}`acc:.1f`.
```

$$
a = b
$$ (e1)

:::{admonition} Learning goals
:class: tip
- one
:::
"""
    out = nbexport.convert(notebook(md), RESOLVER)
    text = out.cells[2].source
    assert "### Exercise 4\n\nDo it." in text
    assert "#### Solution to Exercise 4" in text
    assert "![Figure 3](attachment:fig.png)" in text
    assert "*Figure 3*: A caption with 0.9." in text
    assert "a = b\n\\tag{7}$$" in text
    assert "> **Learning goals**" in text and "> - one" in text
    assert "{" not in text.replace("\\tag{7}", "")
    assert out.cells[2].attachments == {"fig.png": {"image/png": "iVBORw0KGgo="}}
    nbformat.validate(out)


def test_code_cells_and_outputs_are_kept():
    nb = notebook("text")
    out = nbexport.convert(nb)
    assert out.cells[1].source == nb.cells[0].source
    assert out.cells[1].outputs == nb.cells[0].outputs


def test_glue_values_can_come_from_outside_the_notebook():
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("{glue:text}`n:d` and {glue:figure}`x`")]
    )
    out = nbexport.convert(nb, glue={"n": {"text/plain": "3"}})
    assert out.cells[1].source.startswith("3 and")
