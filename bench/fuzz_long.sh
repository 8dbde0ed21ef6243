#!/bin/sh
# The long fuzz run of tests/test_fuzz.py (docs/reliability.md records its figures).
# Each property test runs N examples (default 100000), one after the other, niced:
#   sh bench/fuzz_long.sh [N] > fuzz-long.log 2>&1
set -u
N=${1:-100000}
cd "$(dirname "$0")/.."
for t in test_header_reader_over_arbitrary_bytes test_model_index_bytes_raise_only_documented_errors \
         test_header_reader_over_structured_headers test_model_index_and_component_configs_raise_only_documented_errors; do
    start=$(date +%s)
    AUTOPIPE_FUZZ_EXAMPLES=$N nice -n 19 .venv/bin/python -m pytest "tests/test_fuzz.py::$t" -q -p no:randomly --hypothesis-show-statistics 2>&1 \
        | grep -E "passed|failed|passing|Stopped|phase|Falsifying|Error" 
    echo "$t: N=$N, $(( $(date +%s) - start )) s wall"
done
