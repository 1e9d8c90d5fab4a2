using System.Collections;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Loop.Http;

/// <summary>
/// <see cref="HttpResponse.TimeInfo"/>: the phases of a fetch, named as libcurl names them
/// (Tornado's <c>time_info</c>). <c>queue</c> is the time spent waiting for a slot; the others
/// are measured from the start of the fetch's last hop once the slot was held, as curl measures
/// them: <c>namelookup</c>, <c>connect</c> (the connection ready, TLS included, near zero for a
/// reused one), <c>appconnect</c>, <c>pretransfer</c> (the request about to be sent),
/// <c>starttransfer</c> (the first response byte), and <c>total</c>; <c>redirect</c> is the time
/// spent on the hops before it. Only the phases a client measured are present.
/// </summary>
/// <remarks>
/// A fetch state keeps one and refills it for each fetch; a response keeps a <see cref="Compact"/>
/// copy of it and makes the dictionary only when <see cref="HttpResponse.TimeInfo"/> is read.
/// </remarks>
internal sealed class FetchTimes : IReadOnlyDictionary<string, TimeSpan>
{
    private static readonly string[] s_names = ["queue", "namelookup", "connect", "appconnect", "pretransfer", "starttransfer", "redirect", "total"];

    private PhaseTimes _values;
    private int _present;

    public const int Queue = 0;
    public const int NameLookup = 1;
    public const int Connect = 2;
    public const int AppConnect = 3;
    public const int PreTransfer = 4;
    public const int StartTransfer = 5;
    public const int Redirect = 6;
    public const int Total = 7;

    public int Count => System.Numerics.BitOperations.PopCount((uint)_present);

    public IEnumerable<string> Keys
    {
        get
        {
            for (int i = 0; i < s_names.Length; i++)
            {
                if (Has(i))
                {
                    yield return s_names[i];
                }
            }
        }
    }

    public IEnumerable<TimeSpan> Values
    {
        get
        {
            for (int i = 0; i < s_names.Length; i++)
            {
                if (Has(i))
                {
                    yield return _values[i];
                }
            }
        }
    }

    public TimeSpan this[string key] => TryGetValue(key, out TimeSpan value) ? value : throw new KeyNotFoundException($"No time named '{key}'.");

    public TimeSpan Get(int phase) => _values[phase];

    /// <summary>Forgets every phase, for the next fetch.</summary>
    public void Clear()
    {
        _values = default;
        _present = 0;
    }

    /// <summary>A copy of this that the fetch state's later use leaves as it is.</summary>
    public FetchTimes Clone() => new() { _values = _values, _present = _present };

    public void Set(int phase, TimeSpan value)
    {
        _values[phase] = value;
        _present |= 1 << phase;
    }

    public void Add(int phase, TimeSpan value) => Set(phase, _values[phase] + value);

    /// <summary>Forgets the phases of a hop (all but the queue and redirect times) before the next one.</summary>
    public void ClearHop() => _present &= (1 << Queue) | (1 << Redirect);

    public bool ContainsKey(string key) => TryGetValue(key, out _);

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out TimeSpan value)
    {
        int i = Array.IndexOf(s_names, key);
        if (i >= 0 && Has(i))
        {
            value = _values[i];
            return true;
        }

        value = default;
        return false;
    }

    public IEnumerator<KeyValuePair<string, TimeSpan>> GetEnumerator()
    {
        for (int i = 0; i < s_names.Length; i++)
        {
            if (Has(i))
            {
                yield return new(s_names[i], _values[i]);
            }
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => string.Join(", ", this.Select(pair => $"{pair.Key}={pair.Value.TotalMilliseconds:F3}ms"));

    /// <summary>Whether <paramref name="phase"/> was measured (in this hop, for the phases a hop clears).</summary>
    public bool Has(int phase) => (_present & (1 << phase)) != 0;

    /// <summary>
    /// The phases in half the room (ticks as 32-bit unsigned numbers, up to about 7 minutes each)
    /// for a response to keep inline: it costs no object of its own until TimeInfo is read.
    /// </summary>
    internal struct Compact
    {
        private CompactTicks _ticks;
        private int _present;

        /// <summary>Copies <paramref name="times"/>; false when a phase does not fit (longer than <see cref="uint.MaxValue"/> ticks).</summary>
        public static bool TryCapture(FetchTimes times, out Compact compact)
        {
            compact = default;
            for (int i = 0; i < s_names.Length; i++)
            {
                if (times.Has(i))
                {
                    long ticks = times._values[i].Ticks;
                    if ((ulong)ticks > uint.MaxValue)
                    {
                        return false;
                    }

                    compact._ticks[i] = (uint)ticks;
                }
            }

            compact._present = times._present;
            return true;
        }

        /// <summary>The dictionary view of the captured phases (a new object).</summary>
        public readonly FetchTimes Expand()
        {
            var times = new FetchTimes { _present = _present };
            for (int i = 0; i < s_names.Length; i++)
            {
                times._values[i] = TimeSpan.FromTicks(_ticks[i]);
            }

            return times;
        }
    }

    [InlineArray(8)]
    private struct CompactTicks
    {
        private uint _first;
    }

    [InlineArray(8)]
    private struct PhaseTimes
    {
        private TimeSpan _first;
    }
}
