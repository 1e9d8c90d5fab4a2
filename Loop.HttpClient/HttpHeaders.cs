using System.Collections;
using System.Runtime.CompilerServices;
using System.Text;

namespace Loop.Http;

/// <summary>
/// HTTP headers as Tornado's <c>HTTPHeaders</c>: names compare case-insensitively, a name may
/// have several values, and the order in which fields were added is kept (it is the order they
/// go on the wire). The indexer joins several values with <c>", "</c>, which is what a repeated
/// field means (RFC 9110 §5.3), except for <c>Set-Cookie</c>, whose values cannot be joined: use
/// <see cref="GetAll"/> for it.
/// </summary>
/// <remarks>Not thread-safe. A request's headers are copied when it is fetched, so the caller's instance is never changed.</remarks>
public sealed class HttpHeaders : IEnumerable<KeyValuePair<string, string>>
{
    // The fields in order, held in this object (no list object beside it: a response's headers are one allocation less).
    private FieldList _fields;

    /// <summary>Creates an empty header set.</summary>
    public HttpHeaders()
    {
        _fields = new FieldList(0);
    }

    /// <summary>Creates a header set holding <paramref name="fields"/> in order (a dictionary, or pairs with repeated names).</summary>
    public HttpHeaders(IEnumerable<KeyValuePair<string, string>> fields)
    {
        ArgumentNullException.ThrowIfNull(fields);
        _fields = new FieldList(0);
        foreach (KeyValuePair<string, string> field in fields)
        {
            Add(field.Key, field.Value);
        }
    }

    /// <summary>The number of fields (a name with two values counts twice).</summary>
    public int Count => _fields.Count;

    /// <summary>Removes every field.</summary>
    public void Clear() => _fields.Clear();

    /// <summary>The distinct names, in the order they were first added.</summary>
    public IEnumerable<string> Names
    {
        get
        {
            for (int i = 0; i < _fields.Count; i++)
            {
                string name = _fields[i].Key;
                if (IndexOf(name) == i)
                {
                    yield return name;
                }
            }
        }
    }

    /// <summary>
    /// Gets every value of <paramref name="name"/> joined with <c>", "</c> (the first value only
    /// for <c>Set-Cookie</c>), or sets <paramref name="name"/> to this single value, replacing any.
    /// </summary>
    /// <exception cref="KeyNotFoundException">Getting a name that is not present.</exception>
    public string this[string name]
    {
        get => TryGetValue(name, out string? value) ? value : throw new KeyNotFoundException($"No header named '{name}'.");
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            int first = IndexOf(name);
            if (first < 0)
            {
                _fields.Add(new(name, value));
                return;
            }

            _fields[first] = new(_fields[first].Key, value);
            for (int i = _fields.Count - 1; i > first; i--)
            {
                if (SameName(_fields[i].Key, name))
                {
                    _fields.RemoveAt(i);
                }
            }
        }
    }

    /// <summary>Parses a header block (<c>Name: value</c> lines separated by CRLF or LF), unfolding obs-fold continuation lines.</summary>
    /// <exception cref="FormatException">A line has no colon, or a continuation line comes first.</exception>
    public static HttpHeaders Parse(string block)
    {
        ArgumentNullException.ThrowIfNull(block);
        var headers = new HttpHeaders();
        foreach (string line in block.Split('\n'))
        {
            headers.ParseLine(line.EndsWith('\r') ? line[..^1] : line);
        }

        return headers;
    }

    /// <summary>
    /// Adds one line of a header block: <c>Name: value</c>, or a continuation (starting with a
    /// space or tab) of the previous field's value. An empty line (or a bare CRLF) is ignored, so
    /// every line a <see cref="HttpFetchOptions.HeaderCallback"/> receives can be fed here.
    /// </summary>
    /// <exception cref="FormatException">The line has no colon, or is a continuation with nothing before it.</exception>
    public void ParseLine(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        line = line.TrimEnd('\r', '\n');
        if (line.Length == 0)
        {
            return;
        }

        if (line[0] is ' ' or '\t')
        {
            if (_fields.Count == 0)
            {
                throw new FormatException("A header continuation line came before any header.");
            }

            string more = line.Trim(' ', '\t');
            if (HttpSyntax.HasForbiddenValueChar(more))
            {
                throw new FormatException($"Control character in header line: {Printable(line)}");
            }

            AppendToLast(more);
            return;
        }

        int colon = line.IndexOf(':');
        if (colon <= 0)
        {
            throw new FormatException($"No colon in header line: {Printable(line)}");
        }

        string name = line[..colon];
        string value = line[(colon + 1)..].Trim(' ', '\t');
        if (!HttpSyntax.IsToken(name))
        {
            throw new FormatException($"Invalid header name in line: {Printable(line)}");
        }

        if (HttpSyntax.HasForbiddenValueChar(value))
        {
            throw new FormatException($"Control character in header line: {Printable(line)}");
        }

        Add(name, value);
    }

    private static string Printable(string line) => line.Replace("\r", "\\r").Replace("\n", "\\n").Replace("\0", "\\0");

    /// <summary>
    /// The value of <paramref name="name"/> if it has one (joined as the indexer joins it), else
    /// adds <paramref name="value"/> and returns it (Tornado's <c>setdefault</c>).
    /// </summary>
    public string SetDefault(string name, string value)
    {
        if (TryGetValue(name, out string? existing))
        {
            return existing;
        }

        Add(name, value);
        return value;
    }

    /// <summary>Adds a value for <paramref name="name"/>, keeping those it already has.</summary>
    public void Add(string name, string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(value);
        _fields.Add(new(name, value));
    }

    /// <summary>Every value of <paramref name="name"/> in order; empty if there is none.</summary>
    public IReadOnlyList<string> GetAll(string name)
    {
        List<string>? values = null;
        foreach (KeyValuePair<string, string> field in _fields)
        {
            if (SameName(field.Key, name))
            {
                (values ??= []).Add(field.Value);
            }
        }

        return values ?? (IReadOnlyList<string>)[];
    }

    /// <summary>The value as the indexer gives it, if <paramref name="name"/> is present.</summary>
    public bool TryGetValue(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? value)
    {
        value = null;
        StringBuilder? joined = null;
        foreach (KeyValuePair<string, string> field in _fields)
        {
            if (!SameName(field.Key, name))
            {
                continue;
            }

            if (value is null)
            {
                value = field.Value;
                if (string.Equals(name, "Set-Cookie", StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }
            else
            {
                (joined ??= new StringBuilder(value)).Append(", ").Append(field.Value);
            }
        }

        if (joined is not null)
        {
            value = joined.ToString();
        }

        return value is not null;
    }

    /// <summary>The value of <paramref name="name"/> as the indexer gives it, or null.</summary>
    public string? Get(string name) => TryGetValue(name, out string? value) ? value : null;

    /// <summary>Whether <paramref name="name"/> has at least one value.</summary>
    public bool Contains(string name) => IndexOf(name) >= 0;

    /// <summary>Removes every value of <paramref name="name"/>; returns whether there was one.</summary>
    public bool Remove(string name) =>
        _fields.RemoveAll(name) > 0;

    /// <summary>A copy that can be changed without changing this one.</summary>
    public HttpHeaders Copy()
    {
        var copy = new HttpHeaders(_fields.Count);
        copy._fields.CopyFrom(_fields);
        return copy;
    }

    /// <summary>The fields in order, a repeated name once per value (a <c>foreach</c> over it allocates nothing).</summary>
    public Enumerator GetEnumerator() => new(_fields.Items, _fields.Count);

    IEnumerator<KeyValuePair<string, string>> IEnumerable<KeyValuePair<string, string>>.GetEnumerator() => GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>The fields as <c>Name: value</c> lines, each ending with CRLF.</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        foreach (KeyValuePair<string, string> field in _fields)
        {
            text.Append(field.Key).Append(": ").Append(field.Value).Append("\r\n");
        }

        return text.ToString();
    }

    internal int IndexOf(string name)
    {
        for (int i = 0; i < _fields.Count; i++)
        {
            if (SameName(_fields[i].Key, name))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Adds a field parsed from a response, without re-checking it.</summary>
    /// <summary>An empty collection with room for <paramref name="capacity"/> fields.</summary>
    internal HttpHeaders(int capacity)
    {
        _fields = new FieldList(capacity);
    }

    /// <summary>Makes this hold <paramref name="other"/>'s fields, reusing this collection's storage.</summary>
    internal void ReplaceWith(HttpHeaders other)
    {
        _fields.CopyFrom(other._fields);
    }

    /// <summary>
    /// Whether two field names are the same name (ignoring ASCII case, as HTTP does). The names
    /// callers look up and the common names the parser hands out are mostly the same string
    /// objects, and names that differ mostly differ in length: both are settled without a call
    /// to the comparison, which precompiled code cannot inline.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool SameName(string a, string b) =>
        ReferenceEquals(a, b) || (a.Length == b.Length && string.Equals(a, b, StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// Adds a field the parser has already checked. Always inlined: the precompiled code inlines
    /// it, and a tier-1 caller that did not would call it for the first time only after tier-up
    /// began, and on one core the runtime holds tier-up back for a second after any method's
    /// first call (see README, Start-up).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void AddParsed(string name, string value) => _fields.Add(new(name, value));

    /// <summary>
    /// This collection's fields as an array for <see cref="OverShared"/>: the array this returned
    /// last time (<paramref name="published"/>, kept by the caller) when every field is the same
    /// pair of strings, else a new one. Nobody changes a published array: a collection over one
    /// copies it before its first change, so each stays independent.
    /// </summary>
    internal KeyValuePair<string, string>[] Publish(ref KeyValuePair<string, string>[]? published)
    {
        int count = _fields.Count;
        KeyValuePair<string, string>[]? last = published;
        if (last is null || last.Length != count || !SameStrings(last, _fields.Items))
        {
            last = published = count == 0 ? [] : _fields.Items.AsSpan(0, count).ToArray();
        }

        return last;

        static bool SameStrings(KeyValuePair<string, string>[] last, KeyValuePair<string, string>[] items)
        {
            for (int i = 0; i < last.Length; i++)
            {
                if (!ReferenceEquals(last[i].Key, items[i].Key) || !ReferenceEquals(last[i].Value, items[i].Value))
                {
                    return false;
                }
            }

            return true;
        }
    }

    /// <summary>A collection over <paramref name="shared"/> (all of it, as <see cref="Publish"/> made it), which it copies before its first change.</summary>
    internal static HttpHeaders OverShared(KeyValuePair<string, string>[] shared) => new(shared);

    private HttpHeaders(KeyValuePair<string, string>[] shared)
    {
        _fields = new FieldList(shared);
    }

    /// <summary>Appends a continuation to the last field parsed from a response.</summary>
    internal void AppendToLast(string more)
    {
        KeyValuePair<string, string> last = _fields[_fields.Count - 1];
        _fields[_fields.Count - 1] = new(last.Key, last.Value.Length == 0 ? more : last.Value + " " + more);
    }

    /// <summary>Enumerates the fields in order without allocating.</summary>
    public struct Enumerator : IEnumerator<KeyValuePair<string, string>>
    {
        private readonly KeyValuePair<string, string>[] _items;
        private readonly int _count;
        private int _index;

        internal Enumerator(KeyValuePair<string, string>[] items, int count)
        {
            _items = items;
            _count = count;
            _index = -1;
        }

        /// <summary>The field at the current position.</summary>
        public readonly KeyValuePair<string, string> Current => _items[_index];

        readonly object IEnumerator.Current => Current;

        /// <summary>Moves to the next field; false after the last.</summary>
        public bool MoveNext() => ++_index < _count;

        /// <summary>Starts again before the first field.</summary>
        public void Reset() => _index = -1;

        /// <summary>Nothing to release.</summary>
        public readonly void Dispose()
        {
        }
    }

    /// <summary>
    /// A growable array of fields, kept inside the collection object. The array may be shared
    /// with other collections (see <see cref="Publish"/>): every change goes through
    /// <see cref="Own"/> first, which copies a shared array.
    /// </summary>
    private struct FieldList
    {
        public KeyValuePair<string, string>[] Items;
        public int Count;

        // Items is shared with other collections (read-only for all of them): copy before changing it.
        private bool _shared;

        public FieldList(int capacity)
        {
            Items = capacity == 0 ? [] : new KeyValuePair<string, string>[capacity];
            Count = 0;
            _shared = false;
        }

        public FieldList(KeyValuePair<string, string>[] shared)
        {
            Items = shared;
            Count = shared.Length;
            _shared = shared.Length > 0;
        }

        public KeyValuePair<string, string> this[int index]
        {
            readonly get => Items[index];
            set
            {
                Own();
                Items[index] = value;
            }
        }

        public void Add(KeyValuePair<string, string> field)
        {
            Own();
            if (Count == Items.Length)
            {
                Array.Resize(ref Items, Math.Max(4, Items.Length * 2));
            }

            Items[Count++] = field;
        }

        public void RemoveAt(int index)
        {
            Own();
            Count--;
            Array.Copy(Items, index + 1, Items, index, Count - index);
            Items[Count] = default;
        }

        public int RemoveAll(string name)
        {
            Own();
            int kept = 0;
            for (int i = 0; i < Count; i++)
            {
                if (!SameName(Items[i].Key, name))
                {
                    Items[kept++] = Items[i];
                }
            }

            int removed = Count - kept;
            Array.Clear(Items, kept, removed);
            Count = kept;
            return removed;
        }

        public void Clear()
        {
            if (_shared)
            {
                // Nothing to keep: let go of the shared array instead of copying it.
                Items = [];
                _shared = false;
            }
            else
            {
                Array.Clear(Items, 0, Count);
            }

            Count = 0;
        }

        public void CopyFrom(in FieldList other)
        {
            Clear();
            if (Items.Length < other.Count)
            {
                Items = new KeyValuePair<string, string>[other.Count];
            }

            Array.Copy(other.Items, Items, other.Count);
            Count = other.Count;
        }

        public readonly Enumerator GetEnumerator() => new(Items, Count);

        /// <summary>Makes <see cref="Items"/> this list's own before a change (a copy, with room for one more, if it was shared).</summary>
        private void Own()
        {
            if (_shared)
            {
                var own = new KeyValuePair<string, string>[Math.Max(4, Count + 1)];
                Array.Copy(Items, own, Count);
                Items = own;
                _shared = false;
            }
        }
    }
}
