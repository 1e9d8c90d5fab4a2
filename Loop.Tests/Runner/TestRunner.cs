using System.Diagnostics;
using System.Globalization;
using NUnit.Framework.Api;
using NUnit.Framework.Interfaces;
using NUnit.Framework.Internal;

namespace Loop.Tests.Runner;

/// <summary>
/// Runs this assembly's NUnit tests in-process, without VSTest: the entry point of
/// <c>Loop.Tests.exe</c> when the assembly is published self-contained for a platform that has
/// no <c>dotnet test</c> of its own here (win-x64 under Wine: <c>make test-windows</c>).
/// <c>dotnet test</c> ignores it and loads the assembly as usual.
/// </summary>
/// <remarks>
/// Arguments: namespaces or fixture names (prefixes of a test's full name) to run, all tests if
/// none; <c>--list</c> prints the selected tests instead; <c>--isolate</c> runs each fixture in a
/// process of its own and adds up their counts. Prints one line per failed test with its
/// message, the skipped tests with their reasons, and ends with <c>N passed, N failed, N skipped</c>.
/// Exits 0 when nothing failed and at least one test ran.
/// </remarks>
public static class TestRunner
{
    // NUnit redirects Console.Out to the running test's output while a test runs, listener calls
    // included: the runner writes to the process's own stdout, taken before the run starts.
    private static readonly TextWriter s_out = Console.Out;
    private static readonly TextWriter s_err = Console.Error;

    /// <summary>A test that runs longer than this ends the run (a hang under Wine must not stall make).</summary>
    private static readonly TimeSpan s_testLimit = TimeSpan.FromSeconds(
        int.TryParse(Environment.GetEnvironmentVariable("LOOP_TEST_LIMIT_SECONDS"), out int limit) && limit > 0 ? limit : 120);

    /// <summary>Entry point of the published runner.</summary>
    public static int Main(string[] args)
    {
        // A crash outside a test (a finalizer, a thread of a test's own) ends the process: say what it was.
        AppDomain.CurrentDomain.UnhandledException += (_, e) =>
            s_err.WriteLine($"loop-tests: unhandled exception, the process ends: {e.ExceptionObject}");
        // A failed Debug.Assert ends the process with no message on Windows; make it the test's failure instead.
        Trace.Listeners.Clear();
        Trace.Listeners.Add(new AssertListener());
        bool list = args.Contains("--list");
        string[] prefixes = [.. args.Where(a => !a.StartsWith("--", StringComparison.Ordinal))];
        var runner = new NUnitTestAssemblyRunner(new DefaultTestAssemblyBuilder());
        runner.Load(typeof(TestRunner).Assembly, new Dictionary<string, object>());
        var filter = new PrefixFilter(prefixes);
        ITest[] selected = [.. Leaves(runner.LoadedTest ?? throw new InvalidOperationException("NUnit loaded no tests from this assembly.")).Where(t => filter.Pass(t))];
        if (list)
        {
            foreach (ITest test in selected)
            {
                s_out.WriteLine(test.FullName);
            }

            return 0;
        }

        if (args.Contains("--isolate"))
        {
            return RunIsolated(selected);
        }

        s_out.WriteLine($"Loop tests on {System.Runtime.InteropServices.RuntimeInformation.OSDescription} ({System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription}), selection: {(prefixes.Length == 0 ? "all" : string.Join(", ", prefixes))}");
        var listener = new ConsoleListener();
        var clock = Stopwatch.StartNew();
        using var watchdog = new Timer(_ => listener.CheckForHang(), null, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5));
        runner.Run(listener, filter);
        s_out.WriteLine($"Ran in {clock.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s.");
        foreach (string skipped in listener.Skipped)
        {
            s_out.WriteLine("skipped: " + skipped);
        }

        s_out.WriteLine($"{listener.Passed} passed, {listener.Failed} failed, {listener.Skipped.Count} skipped");
        return listener.Failed == 0 && listener.Passed > 0 ? 0 : 1;
    }

    /// <summary>
    /// Runs each selected fixture in a process of its own (this program again, with the fixture as
    /// its selection), so that a hang or crash that the platform causes (Wine's wineserver) costs
    /// that fixture only, named, and the counts of the others still come. Sums their counts.
    /// </summary>
    private static int RunIsolated(ITest[] selected)
    {
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("The runner's own path is unknown.");
        string[] fixtures = [.. selected.Select(FixtureOf).Distinct(StringComparer.Ordinal)];
        s_out.WriteLine($"Loop tests on {System.Runtime.InteropServices.RuntimeInformation.OSDescription} ({System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription}), {fixtures.Length} fixtures, each in its own process");
        int passed = 0, failed = 0, skipped = 0;
        var clock = Stopwatch.StartNew();
        foreach (string fixture in fixtures)
        {
            var start = new ProcessStartInfo(self) { RedirectStandardOutput = true, UseShellExecute = false };
            if (Path.GetFileNameWithoutExtension(self) == "dotnet")
            {
                // Run as `dotnet Loop.Tests.dll` rather than from the apphost.
                start.ArgumentList.Add(typeof(TestRunner).Assembly.Location);
            }

            start.ArgumentList.Add(fixture + ".");
            using Process child = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {self}.");
            string? last = null;
            while (child.StandardOutput.ReadLine() is { } line)
            {
                if (line.StartsWith("FAILED ", StringComparison.Ordinal) || line.StartsWith("HUNG ", StringComparison.Ordinal)
                    || line.StartsWith("skipped: ", StringComparison.Ordinal) || line.StartsWith("loop-tests:", StringComparison.Ordinal)
                    || line.StartsWith("   at ", StringComparison.Ordinal))
                {
                    s_out.WriteLine(line);
                }

                last = line;
            }

            child.WaitForExit();
            string[] words = last?.Split(' ') ?? [];
            if (words.Length == 6 && words[1] == "passed," && words[3] == "failed,"
                && int.TryParse(words[0], CultureInfo.InvariantCulture, out int p) && int.TryParse(words[2], CultureInfo.InvariantCulture, out int f)
                && int.TryParse(words[4], CultureInfo.InvariantCulture, out int k))
            {
                passed += p;
                failed += f;
                skipped += k;
                s_out.WriteLine($"{fixture}: {last}");
            }
            else
            {
                // The process ended without its counts: a crash. Count the fixture as one failure.
                failed++;
                s_out.WriteLine($"CRASHED {fixture}: exit code {child.ExitCode}, no counts (last line: {last ?? "none"})");
            }
        }

        s_out.WriteLine($"Ran in {clock.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s.");
        s_out.WriteLine($"{passed} passed, {failed} failed, {skipped} skipped");
        return failed == 0 && passed > 0 ? 0 : 1;
    }

    /// <summary>The full name of the fixture a test belongs to (a parameterized fixture's instance, e.g. <c>…Tests(Iocp)</c>).</summary>
    private static string FixtureOf(ITest test)
    {
        ITest? node = test;
        while (node is not null && node.TestType != "TestFixture")
        {
            node = node.Parent;
        }

        return (node ?? test.Parent ?? test).FullName;
    }

    private static IEnumerable<ITest> Leaves(ITest test) =>
        test.HasChildren ? test.Tests.SelectMany(Leaves) : [test];

    /// <summary>Selects tests whose full name starts with one of the prefixes (all tests when there are none).</summary>
    private sealed class PrefixFilter(string[] prefixes) : TestFilter
    {
        public override bool Match(ITest test) =>
            !test.IsSuite && (prefixes.Length == 0 || prefixes.Any(p => test.FullName.StartsWith(p, StringComparison.Ordinal)));

        public override TNode AddToXml(TNode parentNode, bool recursive) => parentNode.AddElement("prefixes", string.Join(";", prefixes));
    }

    /// <summary>Turns a failed <see cref="Debug.Assert(bool)"/> into an exception the running test fails with.</summary>
    private sealed class AssertListener : TraceListener
    {
        public override void Fail(string? message, string? detailMessage) =>
            throw new InvalidOperationException($"Debug.Assert failed: {message} {detailMessage}".TrimEnd());

        public override void Write(string? message) => s_err.Write(message);

        public override void WriteLine(string? message) => s_err.WriteLine(message);
    }

    /// <summary>Counts results and prints failures as they happen.</summary>
    private sealed class ConsoleListener : ITestListener
    {
        public int Passed { get; private set; }

        public int Failed { get; private set; }

        public List<string> Skipped { get; } = [];

        private string? _running;
        private long _startedAt;

        public void TestStarted(ITest test)
        {
            if (!test.IsSuite)
            {
                Volatile.Write(ref _startedAt, Stopwatch.GetTimestamp());
                Volatile.Write(ref _running, test.FullName);
            }
        }

        /// <summary>Ends the process, with the counts so far, when one test has run past the limit.</summary>
        public void CheckForHang()
        {
            string? running = Volatile.Read(ref _running);
            TimeSpan elapsed = Stopwatch.GetElapsedTime(Volatile.Read(ref _startedAt));
            if (running is not null && elapsed > s_testLimit)
            {
                s_out.WriteLine($"HUNG {running}: still running after {elapsed.TotalSeconds:0} s; the run ends here.");
                s_out.WriteLine($"{Passed} passed, {Failed + 1} failed, {Skipped.Count} skipped");
                s_out.Flush();
                Environment.Exit(2);
            }
        }

        public void TestFinished(ITestResult result)
        {
            if (result.Test.IsSuite)
            {
                // A fixture whose one-time set-up failed reports each of its tests as failed too.
                if (result.Test.TestType == "TestFixture")
                {
                    s_out.WriteLine($"{result.FullName}: {result.PassCount} passed, {result.FailCount} failed, {result.SkipCount + result.InconclusiveCount} skipped ({result.Duration:0.0} s)");
                }

                return;
            }

            Volatile.Write(ref _running, null);

            switch (result.ResultState.Status)
            {
                case TestStatus.Passed:
                    Passed++;
                    break;
                case TestStatus.Failed:
                    Failed++;
                    s_out.WriteLine($"FAILED {result.FullName} ({result.Duration:0.00} s): {result.Message}");
                    if (!string.IsNullOrEmpty(result.StackTrace))
                    {
                        s_out.WriteLine(result.StackTrace);
                    }

                    break;
                default:
                    Skipped.Add($"{result.FullName}: {result.Message}");
                    break;
            }
        }

        public void TestOutput(TestOutput output)
        {
        }

        public void SendMessage(TestMessage message)
        {
        }
    }
}
