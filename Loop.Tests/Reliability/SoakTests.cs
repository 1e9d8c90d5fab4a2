using Loop.Curl;
using Loop.Http;
using Loop.Soak;
using Loop.Tests.Support;
using Microsoft.Extensions.Logging;

namespace Loop.Tests.Reliability;

/// <summary>
/// The short soak (issue 12; <c>make soak</c> runs the long one with the same code): thousands of
/// requests through one client, keep-alive and with <c>Connection: close</c>, sampled between
/// batches. Fds, the loop's handlers and timers stay flat after warm-up and come back to where
/// they started once the client is closed; the managed heap stays within a generous bound (a Debug
/// build under the test runner is no place to hold it to 5%).
/// </summary>
[TestFixture(typeof(SimpleAsyncHttpClient))]
[TestFixture(typeof(CurlAsyncHttpClient))]
public sealed class SoakTests(Type clientType) : QuietLoopFixture
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan BatchTimeout = TimeSpan.FromSeconds(20);

    [TestCase(false, 20000)]
    [TestCase(true, 4000)]
    public void Soak_ThousandsOfRequests_FdsAndHandlersStayFlatAndComeBack_HeapStaysBounded(bool close, int requests)
    {
        Dictionary<string, string?> before = OpenTargets();
        int fdsBefore = CountNonFiles(before);
        long heapBefore = SoakRun.SettledHeap();
        var options = new SoakOptions(requests, Concurrency: 50, close, Samples: 10, BatchTimeout: BatchTimeout);
        // The fd count is the whole test process's: the in-process servers of other fixtures
        // (Kestrel for the handler and fetcher tests, their child processes' pipes) may close a few
        // sockets during the run. A leak per request would pass 8 within the first batch of 2,000.
        var limits = new SoakLimits(FdSlack: 8, HeapFraction: 0.5, HeapSlackBytes: 4 << 20, RssFraction: double.PositiveInfinity);
        SoakResult result;
        using (SoakServer server = SoakServer.Start(close))
        {
            var client = (AsyncHttpClient)Activator.CreateInstance(clientType, Loop, SoakRun.Settings(options.Concurrency))!;
            try
            {
                result = SoakRun.Execute($"{clientType.Name} {(close ? "close" : "keep-alive")}", Loop, client, server, options);
            }
            finally
            {
                client.Close();
                for (int i = 0; i < 10 && Loop.PendingCallbackCount > 0; i++)
                {
                    Loop.RunOnce(TimeSpan.Zero);
                }
            }

            Assert.That(Loop.HandlerCount, Is.Zero, "handlers left once the client is closed");
        }

        SoakResult.PrintTable(TestContext.Out, [result], limits);
        Assert.Multiple(() =>
        {
            foreach (SoakCheck check in result.Check(limits))
            {
                Assert.That(check.Passed, Is.True, $"{check.Series} grows after warm-up: from {check.Baseline:0.#} to {check.End:0.#} (limit {check.Limit:0.#}), at most {check.Max:0.#} (bound {check.Bound:0.#})");
            }
        });

        // The server's ends close on its own threads once it is disposed. Files are left out: the
        // runtime opens assemblies (System.Net.Security, …) on first use and keeps them.
        Assert.That(SpinWait.SpinUntil(() => CountNonFiles(OpenTargets()) <= fdsBefore, Bound), Is.True,
            $"descriptors other than files: {CountNonFiles(OpenTargets())} open, {fdsBefore} before the soak; new: {string.Join(", ", OpenTargets().Where(pair => !before.TryGetValue(pair.Key, out string? was) || was != pair.Value).Select(pair => $"{pair.Key} -> {pair.Value}"))}");
        long heapAfter = SoakRun.SettledHeap();
        Assert.That(heapAfter, Is.LessThanOrEqualTo(heapBefore + (16 << 20)), $"heap: {heapBefore / 1024} KB before, {heapAfter / 1024} KB after");
    }

    private static int CountNonFiles(Dictionary<string, string?> targets) => targets.Values.Count(target => target is null || !target.StartsWith('/'));

    private static Dictionary<string, string?> OpenTargets() =>
        Directory.GetFileSystemEntries("/proc/self/fd").ToDictionary(path => Path.GetFileName(path)!, path => Fds.Target(int.Parse(Path.GetFileName(path), System.Globalization.CultureInfo.InvariantCulture)));
}
