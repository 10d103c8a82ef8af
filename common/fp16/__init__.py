"""The fp16 build preview behind common/precision.py, one job per module, each importing only those above it:

    keeplist      ATC's --keep_dtype lists (KeepSet, reading and checking one)            common.fileio, errors
    graph         the fp16 emulation as a graph rewrite; ONNX Runtime sessions           onnx, onnxruntime
    weights       the weights on disk, once as given and once fp16-rounded, for sessions graph, staging
    evaluation    the inputs, the fp32 reference and the emulation's agreement with it    graph, weights, infer
    intermediates node outputs exposed in bounded runs and compared as they stream by    graph, evaluation
    triage        the keep set that brings the prediction to the threshold               keeplist ... intermediates
    readable      the HTML + PNG report (per-node drift, keep list, worst samples)       ... intermediates, report
    run           the command: the preview, the triage and the outputs written together  everything above

common/precision.py is the script (its --help, its parser) and names what tests and benchmarks use.
"""
