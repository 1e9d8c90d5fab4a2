# Loop — build, test, benchmark. Everything goes through the .NET SDK.
DOTNET ?= dotnet
CONFIG ?= Release
RESULTS ?= TestResults
# BenchmarkDotNet filter, e.g. make bench FILTER='*Timer*'
FILTER ?= *

export DOTNET_CLI_TELEMETRY_OPTOUT := 1
export DOTNET_NOLOGO := 1
export DOTNET_SKIP_FIRST_TIME_EXPERIENCE := 1

.PHONY: all build test fuzz soak bench run clean libcurl

all: build

build:
	$(DOTNET) build Loop.sln -c $(CONFIG)

# Tests run in Debug: small buffers there put the growth and full-buffer paths under test.
# --blame-hang-timeout is a last resort; every test also bounds itself.
test: libcurl
	rm -rf $(RESULTS)
	$(DOTNET) test Loop.Tests/Loop.Tests.csproj -c Debug \
		--logger "trx;LogFileName=results.trx" --logger "console;verbosity=normal" \
		--results-directory $(RESULTS) --blame-hang-timeout 5m

# The response fuzzer, long: FUZZ_CASES mutated responses per client (default 20000) from
# FUZZ_SEED (default 1), then the statistics (outcomes by type, crashes, hangs, findings).
# make test runs a short pass of the same test (200 cases per client, a fixed seed).
fuzz: libcurl
	FUZZ_CASES=$(or $(FUZZ_CASES),20000) FUZZ_SEED=$(or $(FUZZ_SEED),1) \
		$(DOTNET) test Loop.Tests/Loop.Tests.csproj -c Debug --filter "FullyQualifiedName~HostileFuzzTests" \
		--logger "console;verbosity=detailed"

# The curl client loads libcurl at run time (libcurl.so.4, in Debian's libcurl4). Installed when
# missing and running as root; otherwise the exact package to install is named.
libcurl:
	@if { ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null; } | grep -q 'libcurl\(-gnutls\)\?\.so\.4'; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing libcurl4 (the curl client's library)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libcurl4 >/dev/null; \
	else \
		echo "libcurl.so.4 is missing: install it (Debian/Ubuntu: sudo apt-get install libcurl4)" >&2; exit 1; \
	fi

# Micro-benchmarks (BenchmarkDotNet, short job, memory diagnoser on).
bench:
	$(DOTNET) run -c Release --project Loop.Benchmarks -- --filter '$(FILTER)' --job short

# The main job: a server inside the process (Kestrel on 127.0.0.1), a handful of URLs fetched
# concurrently on one IOLoop, and a table of what came back. No network needed.
# With URLs it is the command-line fetcher: make run ARGS='--print_headers http://…'
ARGS ?=
run: libcurl
	$(DOTNET) run -c Release --project Loop.Fetch -- $(ARGS)

# The soak: each client for a million keep-alive requests, then with Connection: close, 200 at
# once, against a server the runner starts on 127.0.0.1; fds, loop handlers and timers, heap and
# RSS sampled 50 times; exits non-zero when a series grows after warm-up. About 6 minutes here.
SOAK_REQUESTS ?= 1000000
SOAK_CLOSE_REQUESTS ?= 100000
SOAK_CONCURRENCY ?= 200
soak: libcurl
	$(DOTNET) build Loop.Benchmarks -c Release
	status=0; \
	$(DOTNET) Loop.Benchmarks/bin/Release/net10.0/Loop.Benchmarks.dll soak --requests $(SOAK_REQUESTS) --concurrency $(SOAK_CONCURRENCY) --quiet || status=$$?; \
	$(DOTNET) Loop.Benchmarks/bin/Release/net10.0/Loop.Benchmarks.dll soak --requests $(SOAK_CLOSE_REQUESTS) --concurrency $(SOAK_CONCURRENCY) --close --quiet || status=$$?; \
	exit $$status

clean:
	$(DOTNET) clean Loop.sln -c Release >/dev/null
	$(DOTNET) clean Loop.sln -c Debug >/dev/null
	rm -rf $(RESULTS) BenchmarkDotNet.Artifacts */bin */obj
