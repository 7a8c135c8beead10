"""zipfit inside the pipelines users already run: datatrove, Hugging Face ``datasets``, NeMo Curator.

Each framework has its own module, imported only by who uses it (``zipfit.integrations.hf``,
``zipfit.integrations.datatrove``, ``zipfit.integrations.nemo_curator``): ``import zipfit`` never imports a framework.
What they share lives beside them: the targets read and the method fitted once (``scoring``), and the exact
global cut from the scores of every document (``cut``), which is the library's own (``zipfit.selection``), so a
framework gives the scores and the selection the CLI gives. See docs/integrations.md.
"""
