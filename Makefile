# Loop — build, test, benchmark. Everything goes through the .NET SDK.
DOTNET ?= dotnet
CONFIG ?= Release
RESULTS ?= TestResults
# BenchmarkDotNet filter, e.g. make bench FILTER='*Timer*'
FILTER ?= *

export DOTNET_CLI_TELEMETRY_OPTOUT := 1
export DOTNET_NOLOGO := 1
export DOTNET_SKIP_FIRST_TIME_EXPERIENCE := 1

.PHONY: all build test bench run clean

all: build

build:
	$(DOTNET) build Loop.sln -c $(CONFIG)

# Tests run in Debug: small buffers there put the growth and full-buffer paths under test.
# --blame-hang-timeout is a last resort; every test also bounds itself.
test:
	rm -rf $(RESULTS)
	$(DOTNET) test Loop.Tests/Loop.Tests.csproj -c Debug \
		--logger "trx;LogFileName=results.trx" --logger "console;verbosity=normal" \
		--results-directory $(RESULTS) --blame-hang-timeout 5m

# Micro-benchmarks (BenchmarkDotNet, short job, memory diagnoser on).
bench:
	$(DOTNET) run -c Release --project Loop.Benchmarks -- --filter '$(FILTER)' --job short

# The main job: a server inside the process (Kestrel on 127.0.0.1), a handful of URLs fetched
# concurrently on one IOLoop, and a table of what came back. No network needed.
# With URLs it is the command-line fetcher: make run ARGS='--print_headers http://…'
ARGS ?=
run:
	$(DOTNET) run -c Release --project Loop.Fetch -- $(ARGS)

clean:
	$(DOTNET) clean Loop.sln -c Release >/dev/null
	$(DOTNET) clean Loop.sln -c Debug >/dev/null
	rm -rf $(RESULTS) BenchmarkDotNet.Artifacts */bin */obj
