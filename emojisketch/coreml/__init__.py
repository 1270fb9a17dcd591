"""Core ML: export an updatable ``.mlmodel`` an iPhone can keep training, and check it here.

* :mod:`.export` — ``export_model(model, path, kind=None, linked=False, progress=None)``:
  a pipeline classifier (spec version 4): the embedding network (:mod:`.embedding`, built
  layer by layer), then an updatable k-NN or neural-network classifier.
* :mod:`.spec_check` — Core ML's validation rules (ported from coremltools' C++ validators,
  plus :mod:`.spec_check_nn`, :mod:`.spec_rules` and our own :mod:`.export_rules`), each
  failure named by its rule.
* :mod:`.interpret` — a numpy reference interpreter that runs a spec (and a linked one), so
  an export is checked against the torch model without a Mac; :mod:`.verify` reports it.
* :mod:`.importer` — ``import_mlmodel(path)``: an exported file back as an UpdatableModel.
* :mod:`.cli`, :mod:`.cli_import` — the ``export`` and ``import`` commands.

coremltools is imported lazily (:mod:`.specio`), only when a spec is built or read.
"""
