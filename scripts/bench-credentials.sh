#!/usr/bin/env bash
# Runs the credential-level benchmarks summarised in
# docs/BENCHMARKS-CREDENTIALS.md, COUNT times each (default 5), and prints
# the go test lines (benchstat reads them). Run it on a quiet machine; the
# page quotes medians.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${COUNT:-5}
go test -run '^$' -count "$count" -benchmem \
	-bench 'BenchmarkClientSecret$|ClientCertificateCredentialHit|ManagedIdentityWarmHit|DeviceCodeCredentialHit|ChainedTokenCredentialChosen|CachingCredentialHit|BearerTransportHit|BearerTransportCredentialHit|AzcoreBearerPolicyHit|AzcorePipelineNoAuth|AzureCLICredential' .
go test -run '^$' -count 3 -benchmem -bench 'OBO100kUsers' .
go test -run '^$' -count "$count" -benchmem -benchtime 200x -bench 'ClientAssertionSign|ColdTokenRequest' .
# azid serve: a served hit against an empty handler (alternating batches),
# the handler alone, and the 1,000-client cold herd.
go test -run '^$' -count "$count" -benchmem -benchtime 20000x -bench 'ServedVsEmpty|HandlerHit' ./internal/serve/
go test -run '^$' -count 3 -benchtime 1x -bench 'ColdHerd1000' ./internal/serve/
