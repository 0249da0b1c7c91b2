#!/usr/bin/env bash
# Runs each fuzz target (pkg:FuzzName) for FUZZTIME.
#
# FUZZMINIMIZETIME, when set, bounds the minimisation of each input that widens
# coverage for every target (-fuzzminimizetime; e.g. 60s to minimise a crasher fully).
# Unset, each target has Go's default (60 s) or its own: FuzzInject bounds it to 1,000
# executions (internal/inject/fuzz_test.go says why, docs/testing.md what it changes).
#
# Go 1.26's fuzzing coordinator can report a bare "context deadline exceeded" failure as
# -fuzztime expires, with no failing input (golang/go#75804, fixed in Go 1.27). Such a run
# found nothing: it is run once more. Any other failure, or a failing input written to
# testdata/fuzz, fails at once.
set -uo pipefail
fuzztime="$1"
shift
for t in "$@"; do
	pkg="${t%%:*}" fn="${t##*:}"
	minimize=()
	[ -z "${FUZZMINIMIZETIME:-}" ] || minimize=(-fuzzminimizetime "$FUZZMINIMIZETIME")
	for attempt in 1 2; do
		echo "fuzz: $fn in ./$pkg for $fuzztime"
		out="$(mktemp)"
		go test "./$pkg" -run '^$' -fuzz "^$fn\$" -fuzztime "$fuzztime" -parallel 2 "${minimize[@]}" 2>&1 | tee "$out"
		rc="${PIPESTATUS[0]}"
		if [ "$rc" = 0 ]; then
			rm -f "$out"
			break
		fi
		if [ "$attempt" = 1 ] && grep -q 'context deadline exceeded' "$out" &&
			! grep -q 'Failing input written' "$out"; then
			echo "fuzz: $fn stopped on golang/go#75804 (the coordinator's deadline race, no failing input): running it again"
			rm -f "$out"
			continue
		fi
		rm -f "$out"
		exit "$rc"
	done
done
