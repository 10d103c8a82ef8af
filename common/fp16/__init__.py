"""The fp16 build preview behind common/precision.py, one job per module, each importing only those above it:

    keeplist       ATC's --keep_dtype lists (KeepSet, reading and checking one)       common.fileio, errors
    graph          the fp16 emulation as a graph rewrite; ONNX Runtime sessions      keeplist
    weights        the weights on disk, as given and fp16-rounded, for the sessions  graph, common.room
    evaluation     the inputs, the fp32 reference, the emulation's agreement         graph, weights, common.sources
    intermediates  node outputs exposed in bounded runs, reduced as they stream by   graph, evaluation
    triage         the keep set that brings the prediction to the threshold          keeplist ... intermediates
    readable       the HTML + PNG report (per-node drift, keep list, worst samples)  ... intermediates, common.report
    run            the command: preview, triage, and the outputs written together    all of the above

common/precision.py is the script (its --help and parser) and names what tests and benchmarks use.
"""
