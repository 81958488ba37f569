"""The pipeline's stream processors (Faust): submitter, results writer, block publisher.

Pure cores (the submit window, the circuit breaker, the retry and outcome policy, status
transitions) import no I/O library and are tested on their own; the Faust agents are thin.
"""
