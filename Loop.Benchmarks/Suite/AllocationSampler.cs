using System.Collections.Concurrent;
using System.Diagnostics.Tracing;

namespace Loop.Benchmarks.Suite;

/// <summary>
/// Samples what is allocated, by type, from the runtime's AllocationTick events (one per ~100 KB
/// allocated): <c>suite … --alloc-profile</c> has each .NET client print the share of each type it allocated when it ends.
/// </summary>
internal sealed class AllocationSampler : EventListener
{
    private readonly ConcurrentDictionary<string, long> _bytes = new();
    private volatile bool _on;

    public void Start() => _on = true;

    public void Stop() => _on = false;

    public void Print(TextWriter output)
    {
        long total = _bytes.Values.Sum();
        foreach ((string type, long bytes) in _bytes.OrderByDescending(pair => pair.Value).Take(40))
        {
            output.WriteLine($"{100.0 * bytes / total,6:F1}%  {type}");
        }
    }

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(source, EventLevel.Verbose, (EventKeywords)0x1 /* GC */);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs data)
    {
        if (!_on || data.EventName is null || !data.EventName.StartsWith("GCAllocationTick", StringComparison.Ordinal) || data.Payload is null)
        {
            return;
        }

        int typeIndex = data.PayloadNames!.IndexOf("TypeName");
        int amountIndex = data.PayloadNames.IndexOf("AllocationAmount64");
        if (typeIndex >= 0 && amountIndex >= 0)
        {
            _bytes.AddOrUpdate((string)data.Payload[typeIndex]!, Convert.ToInt64(data.Payload[amountIndex], System.Globalization.CultureInfo.InvariantCulture), (_, sum) => sum + Convert.ToInt64(data.Payload[amountIndex], System.Globalization.CultureInfo.InvariantCulture));
        }
    }
}
