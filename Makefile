# Loop — build, test, benchmark. Everything goes through the .NET SDK.
DOTNET ?= dotnet
CONFIG ?= Release
RESULTS ?= TestResults
# BenchmarkDotNet filter, e.g. make bench-micro FILTER='*Timer*'
FILTER ?= *
# Extra arguments for the load suite, e.g. make bench BENCH_ARGS='--clients wrk,simple,httpclient'
BENCH_ARGS ?=
# A remark printed at the top of docs/benchmarks.md, e.g. make bench-quick NOTE='Smoke run'
NOTE ?=
# How the benchmark program gets the Loop assemblies (bench-build, then bench/bench-quick/bench-embed):
# READY_TO_RUN=packages (the default): ReadyToRun for $(RID), as the library packages carry them
#   (runtimes/<rid>/lib, see Directory.Build.targets; they carry linux-x64 only, so on another
#   runtime this is what they would give); the benchmark program and its other dependencies stay
#   IL, as a user's application is, and the framework is precompiled as shipped.
# READY_TO_RUN=none: IL only, each Loop method jitted at its first call (a project reference's build).
# READY_TO_RUN=all: every assembly of the program ReadyToRun, the benchmark's own code included.
# READY_TO_RUN=composite: self-contained, the .NET libraries and Loop.* compiled together into one
# composite ReadyToRun image (one version bubble, so the framework's generics over Loop's types are
# precompiled too; about 180 MB): what an application published that way gets.
# Each needs crossgen2 and the runtime pack for $(RID), restored from NuGet on first use.
READY_TO_RUN ?= packages
# This machine's runtime identifier as the SDK reports it (linux-x64 when it cannot tell): the
# smoke's self-contained build and the benchmark's ReadyToRun images are for it.
ifeq ($(origin RID),undefined)
RID := $(or $(shell $(DOTNET) --info 2>/dev/null | sed -n 's/^ *RID: *//p' | head -n 1),linux-x64)
endif
BENCH_DLL := Loop.Benchmarks/bin/Release/net10.0/$(RID)/$(READY_TO_RUN)/Loop.Benchmarks.dll
BENCH_RUN = $(DOTNET) $(BENCH_DLL)
ifeq ($(READY_TO_RUN),none)
BENCH_DLL := Loop.Benchmarks/bin/Release/net10.0/Loop.Benchmarks.dll
endif
ifeq ($(READY_TO_RUN),composite)
BENCH_RUN = $(dir $(BENCH_DLL))Loop.Benchmarks
endif
# The command the report names: READY_TO_RUN only when it is not the default.
BENCH_FORM = $(if $(filter-out packages,$(READY_TO_RUN)), READY_TO_RUN=$(READY_TO_RUN))

export DOTNET_CLI_TELEMETRY_OPTOUT := 1
export DOTNET_NOLOGO := 1
export DOTNET_SKIP_FIRST_TIME_EXPERIENCE := 1

.PHONY: all build pack test smoke test-windows wine fuzz soak bench bench-quick bench-embed bench-micro bench-tools bench-build run clean libcurl

all: build

build:
	$(DOTNET) build Loop.sln -c $(CONFIG)

# Packages: one per library (net8.0 and net10.0, XML docs, README, SourceLink, .snupkg symbols) and
# the fetcher as a .NET tool (command loop-fetch), all in $(PACK_DIR). Metadata is in
# Directory.Build.props; PACK_ARGS adds MSBuild properties, e.g. PACK_ARGS='-p:VersionSuffix=preview.1'.
PACK_DIR := artifacts/packages
PACK_ARGS ?=
pack:
	rm -rf $(PACK_DIR)
	$(DOTNET) pack Loop.sln -c Release $(PACK_ARGS)

# Tests run in Debug: small buffers there put the growth and full-buffer paths under test.
# --blame-hang-timeout is a last resort; every test also bounds itself. The .NET 8 smoke runs
# first; when it fails the suite does not run and make test fails.
# make pack runs first: Loop.Tests/Packaging installs the fetcher's tool package from $(PACK_DIR).
# make bench-build runs before it, on a clean tree as on a fresh machine: it checks that make
# bench's build (the packages' ReadyToRun images swapped into the benchmark) works from scratch.
test: libcurl smoke bench-build pack
	rm -rf $(RESULTS)
	$(DOTNET) test Loop.Tests/Loop.Tests.csproj -c Debug \
		--logger "trx;LogFileName=results.trx" --logger "console;verbosity=normal" \
		--results-directory $(RESULTS) --blame-hang-timeout 5m

# The .NET 8 smoke (Loop.Smoke): the libraries' net8.0 builds in a program published
# self-contained for $(RID) (the .NET 8 runtime pack comes from NuGet: nothing to install), run
# on the .NET 8 runtime: it checks that runtime and those builds, runs the README's quick start
# and HTTP example and one fetch with each client (simple, curl, blocking) against a server it
# starts on 127.0.0.1, prints each check and exits non-zero when any fails.
SMOKE_DIR := Loop.Smoke/bin/Release/net8.0/$(RID)/publish
smoke: libcurl
	$(DOTNET) publish Loop.Smoke -c Release -r $(RID) --self-contained -o $(SMOKE_DIR)
	$(SMOKE_DIR)/loop-smoke

# Windows: the loop and stream suites and the simple client's own fetches (Loop.Tests.Core,
# .Streams, .Portability) under Wine. Loop.Tests is published self-contained for win-x64 (the
# runtime packs come from NuGet) and runs through its own entry point (Loop.Tests/Runner), each
# fixture in a process of its own (a test that Wine wedges ends after 60 s and costs its fixture
# only), which prints the failures and "N passed, N failed, N skipped". wine64 is installed when missing and
# running as root. The Wine prefix is made on first use (about 30 s) in WINE_PREFIX.
# DOTNET_EnableWriteXorExecute=0: with the runtime's W^X double mapping, Wine 8 now and then
# crashes the CLR while it frees dynamic methods. The README lists what does not run there.
WIN_DIR := Loop.Tests/bin/Debug/net10.0/win-x64/publish
WINE_PREFIX ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/loop-wine
WINDOWS_TESTS ?= Loop.Tests.Core Loop.Tests.Streams Loop.Tests.Portability
test-windows: wine
	$(DOTNET) publish Loop.Tests/Loop.Tests.csproj -c Debug -r win-x64 --self-contained -p:UseAppHost=true -o $(WIN_DIR)
	@if [ ! -f "$(WINE_PREFIX)/system.reg" ]; then \
		echo "Creating the Wine prefix in $(WINE_PREFIX)"; mkdir -p "$(WINE_PREFIX)"; \
		WINEPREFIX="$(WINE_PREFIX)" WINEDEBUG=-all wineboot -i >/dev/null 2>&1; \
		WINEPREFIX="$(WINE_PREFIX)" WINEDEBUG=-all wine reg add 'HKCU\Software\Wine' /v Version /d win10 /f >/dev/null 2>&1; \
	fi
	WINEPREFIX="$(WINE_PREFIX)" WINEDEBUG=-all DOTNET_EnableWriteXorExecute=0 LOOP_TEST_LIMIT_SECONDS=60 wine $(WIN_DIR)/Loop.Tests.exe --isolate $(WINDOWS_TESTS)

wine:
	@if command -v wine >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing wine64 (Debian's Wine, to run the win-x64 tests)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wine64 >/dev/null; \
	else \
		echo "wine is missing: install it (Debian/Ubuntu: sudo apt-get install wine64)" >&2; exit 1; \
	fi

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

# The load comparison (Loop.Benchmarks/Suite): nginx with one worker on one core, each client on
# another, every client and concurrency, interleaved repetitions; writes docs/benchmarks.md and
# docs/benchmarks.svg. The runner starts and stops nginx itself and raises the open-file limit.
# Then the start-up runs: each .NET client in a fresh process on one core with the runtime's
# default tiering, requests/s per half second for 15 s (docs/benchmarks-startup.svg); 3 processes
# per client, none in bench-quick. BENCH_ARGS='--no-startup' leaves them out, '--startup-only'
# runs only them, '--startup-env DOTNET_TieredPGO=0' measures a runtime setting.
# About 35 minutes; bench-quick is the one-minute version (fewer rows and clients, shorter rounds,
# one repetition, no start-up runs).
bench: libcurl bench-tools bench-build
	LOOP_BENCH_COMMAND='make bench$(BENCH_FORM)' $(BENCH_RUN) suite --out docs/benchmarks.md \
		$(if $(NOTE),--note '$(NOTE)') $(BENCH_ARGS)

bench-quick: libcurl bench-tools bench-build
	LOOP_BENCH_COMMAND='make bench-quick$(BENCH_FORM)' $(BENCH_RUN) suite --quick --out docs/benchmarks.md \
		$(if $(NOTE),--note '$(NOTE)') $(BENCH_ARGS)

# The embedding benchmark (Loop.Benchmarks/Embedding): a game server's 60 Hz main loop with the
# IOLoop inside (its own epoll holding a timerfd and the loop's descriptor, 1 ms of its own work
# per tick) while 200 workers fetch nginx's 1 MiB body, for each client, with RunOnce bounded by a
# 2 ms TickBudget and unbounded, interleaved: ticks lost, tick lateness, the longest RunOnce,
# fetches/s and the GC. nginx on one core, each host process on another, as in bench. Writes
# docs/embedding.md. About 2.5 minutes; EMBED_ARGS='--clients simple --duration 3' for less,
# '--body buffered,pooled' (or writer, stream) to compare how the bodies are received.
EMBED_ARGS ?=
bench-embed: libcurl bench-tools bench-build
	LOOP_BENCH_COMMAND='make bench-embed$(if $(EMBED_ARGS), EMBED_ARGS=$(EMBED_ARGS))' $(BENCH_RUN) embed --out docs/embedding.md \
		$(if $(NOTE),--note '$(NOTE)') $(EMBED_ARGS)

# Micro-benchmarks (BenchmarkDotNet, short job, memory diagnoser on): the loop, streams and the
# HTTP/1 response-head parser.
bench-micro:
	$(DOTNET) run -c Release --project Loop.Benchmarks -- --filter '$(FILTER)' --job short

bench-build:
ifeq ($(READY_TO_RUN),packages)
	$(DOTNET) publish Loop.Benchmarks -c Release -r $(RID) --self-contained false -p:LoopPackagedReadyToRun=true -o $(dir $(BENCH_DLL))
else ifeq ($(READY_TO_RUN),all)
	$(DOTNET) publish Loop.Benchmarks -c Release -r $(RID) --self-contained false -p:PublishReadyToRun=true -o $(dir $(BENCH_DLL))
else ifeq ($(READY_TO_RUN),composite)
	$(DOTNET) publish Loop.Benchmarks -c Release -r $(RID) --self-contained true -p:PublishReadyToRun=true -p:PublishReadyToRunComposite=true -o $(dir $(BENCH_DLL))
else ifeq ($(READY_TO_RUN),none)
	$(DOTNET) build Loop.Benchmarks -c Release
else
	@echo "READY_TO_RUN must be packages, none, all or composite" >&2; exit 2
endif

# The suite's server and reference clients, installed when missing and running as root (Debian's
# packages); otherwise the packages to install are named. Node's undici is optional: with node
# present the runner installs undici with npm into its work directory, never globally.
bench-tools:
	@missing=""; \
	{ command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; } || missing="$$missing nginx"; \
	command -v wrk >/dev/null 2>&1 || missing="$$missing wrk"; \
	command -v curl >/dev/null 2>&1 || missing="$$missing curl"; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing$$missing (the benchmark's server and reference clients)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else \
		echo "Missing:$$missing. Install them (Debian/Ubuntu: sudo apt-get install$$missing), then run this again." >&2; exit 1; \
	fi

# The main job: a server inside the process (Kestrel on 127.0.0.1), a handful of URLs fetched
# concurrently on one IOLoop, and a table of what came back. No network needed.
# With ARGS it is the command-line fetcher: make run ARGS='--print_headers http://…' (the shell
# reads ARGS, so quote inside it: ARGS='-H "Accept: text/plain" http://…'). The command is not
# echoed, so that stdout holds only what the fetcher writes (make run ARGS='…' > file).
ARGS ?=
run: libcurl
	@$(DOTNET) run -c Release --project Loop.Fetch -- $(ARGS)

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
