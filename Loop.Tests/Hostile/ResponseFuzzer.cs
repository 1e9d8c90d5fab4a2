using System.Globalization;
using System.Text;

namespace Loop.Tests.Hostile;

/// <summary>One fuzz case: the writes the server makes (in that order, each one send), how it ends, and how they were made.</summary>
public sealed record FuzzCase(int Index, IReadOnlyList<byte[]> Writes, ServerEnd End, string Recipe)
{
    /// <summary>The bytes as one C# string literal (Latin-1), ready to become a catalogue case.</summary>
    public string Literal
    {
        get
        {
            var text = new StringBuilder("\"");
            foreach (byte b in Writes.SelectMany(w => w))
            {
                text.Append(b switch
                {
                    (byte)'\r' => "\\r",
                    (byte)'\n' => "\\n",
                    (byte)'"' => "\\\"",
                    (byte)'\\' => "\\\\",
                    >= 0x20 and < 0x7f => ((char)b).ToString(),
                    _ => $"\\u{b:x4}",
                });
            }

            return text.Append('"').ToString();
        }
    }
}

/// <summary>
/// Seeded mutations of valid and hostile responses: bit flips, inserted and deleted bytes,
/// truncation, duplicated lines, numbers swapped for awkward ones, splices of two corpus
/// entries, and random split points between the server's writes. Case <c>i</c> of seed <c>s</c>
/// is always the same bytes, so a finding is replayed with the same seed.
/// </summary>
public static class ResponseFuzzer
{
    private static readonly byte[] s_interestingBytes = B("\r\n\0 \t:;,0F\u007f\u0080\u00ffH-");

    private static readonly string[] s_interestingNumbers =
    [
        "0", "-1", "1", "00", " 1", "1,2", "2147483648", "4294967296", "9223372036854775808", "99999999999999999999999",
        "7fffffffffffffff", "ffffffffffffffff", "1e3", "0x10",
    ];

    private static readonly Lazy<IReadOnlyList<byte[]>> s_corpus = new(() =>
    {
        byte[] text = B(string.Concat(Enumerable.Range(0, 40).Select(i => $"line {i}\n")));
        byte[] gzip = HostileCatalogue.Gzip(text);
        byte[][] valid =
        [
            B("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nHello world!"),
            B("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nabcd\r\n3\r\nefg\r\n0\r\nX-Trailer: t\r\n\r\n"),
            [.. B($"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {gzip.Length}\r\n\r\n"), .. gzip],
            [.. B($"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n{gzip.Length:x}\r\n"), .. gzip, .. B("\r\n0\r\n\r\n")],
            B("HTTP/1.0 200 OK\r\nServer: old\r\n\r\nuntil the connection closes"),
            B("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
            B("HTTP/1.1 204 No Content\r\nX-A: b\r\n\r\n"),
            B("HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 5\r\n\r\nmoved"),
            B("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n"),
            B("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 9\r\n\r\nnot found"),
            B("HTTP/1.1 200 OK\r\nSet-Cookie: a=b\r\nSet-Cookie: c=d\r\nX-Folded: one\r\n two\r\nContent-Length: 3\r\n\r\nabc"),
        ];
        IEnumerable<byte[]> hostile = HostileCatalogue.All
            .Select(c => c.Replies[0].FiniteBytes)
            .OfType<byte[]>()
            .Where(bytes => bytes.Length is > 0 and <= 32 * 1024);
        return [.. valid, .. hostile];
    });

    /// <summary>What the mutations start from: valid responses, then the catalogue's finite first replies.</summary>
    public static IReadOnlyList<byte[]> Corpus => s_corpus.Value;

    /// <summary>Case <paramref name="index"/> of <paramref name="seed"/>; deterministic.</summary>
    public static FuzzCase Make(int seed, int index)
    {
        var rng = new Random(unchecked((seed * 1_000_003) + index));
        IReadOnlyList<byte[]> corpus = Corpus;
        int baseIndex = rng.Next(corpus.Count);
        byte[] data = corpus[baseIndex];
        var recipe = new StringBuilder("corpus[").Append(baseIndex.ToString(CultureInfo.InvariantCulture)).Append(']');
        int mutations = 1 + rng.Next(4);
        for (int i = 0; i < mutations; i++)
        {
            data = Mutate(rng, data, corpus, recipe);
        }

        IReadOnlyList<byte[]> writes = Split(rng, data, recipe);
        int roll = rng.Next(100);
        ServerEnd end = roll < 75 ? ServerEnd.Close : roll < 92 ? ServerEnd.Reset : roll < 99 ? ServerEnd.KeepAlive : ServerEnd.Stall;
        recipe.Append(CultureInfo.InvariantCulture, $", then {end}");
        return new FuzzCase(index, writes, end, recipe.ToString());
    }

    private static byte[] Mutate(Random rng, byte[] data, IReadOnlyList<byte[]> corpus, StringBuilder recipe)
    {
        if (data.Length == 0)
        {
            return corpus[rng.Next(corpus.Count)];
        }

        int at = rng.Next(data.Length);
        switch (rng.Next(7))
        {
            case 0:
            {
                int bit = rng.Next(8);
                byte[] copy = [.. data];
                copy[at] ^= (byte)(1 << bit);
                recipe.Append(CultureInfo.InvariantCulture, $", flip bit {bit} of byte {at}");
                return copy;
            }

            case 1:
            {
                byte inserted = rng.Next(2) == 0 ? s_interestingBytes[rng.Next(s_interestingBytes.Length)] : (byte)rng.Next(256);
                recipe.Append(CultureInfo.InvariantCulture, $", insert 0x{inserted:x2} at {at}");
                return [.. data.AsSpan(0, at), inserted, .. data.AsSpan(at)];
            }

            case 2:
            {
                int count = Math.Min(1 + rng.Next(4), data.Length - at);
                recipe.Append(CultureInfo.InvariantCulture, $", delete {count} at {at}");
                return [.. data.AsSpan(0, at), .. data.AsSpan(at + count)];
            }

            case 3:
                recipe.Append(CultureInfo.InvariantCulture, $", truncate to {at}");
                return data[..at];
            case 4:
            {
                // The line around the position, with its LF, written twice.
                int start = Array.LastIndexOf(data, (byte)'\n', at) + 1;
                int lf = Array.IndexOf(data, (byte)'\n', at);
                int end = lf < 0 ? data.Length : lf + 1;
                recipe.Append(CultureInfo.InvariantCulture, $", duplicate the line at {start}");
                return [.. data.AsSpan(0, end), .. data.AsSpan(start, end - start), .. data.AsSpan(end)];
            }

            case 5:
            {
                int other = rng.Next(corpus.Count);
                int from = rng.Next(corpus[other].Length + 1);
                recipe.Append(CultureInfo.InvariantCulture, $", splice corpus[{other}] from {from} at {at}");
                return [.. data.AsSpan(0, at), .. corpus[other].AsSpan(from)];
            }

            default:
            {
                // A run of hex digits (a length, a chunk size, a status code) becomes an awkward number.
                int digit = Array.FindIndex(data, at, IsHexDigit);
                if (digit < 0)
                {
                    digit = Array.FindIndex(data, IsHexDigit);
                }

                if (digit < 0)
                {
                    goto case 0;
                }

                int end = digit;
                while (end < data.Length && IsHexDigit(data[end]))
                {
                    end++;
                }

                string number = s_interestingNumbers[rng.Next(s_interestingNumbers.Length)];
                recipe.Append(CultureInfo.InvariantCulture, $", number at {digit} becomes \"{number}\"");
                return [.. data.AsSpan(0, digit), .. B(number), .. data.AsSpan(end)];
            }
        }
    }

    private static IReadOnlyList<byte[]> Split(Random rng, byte[] data, StringBuilder recipe)
    {
        int[] cuts = [.. Enumerable.Range(0, rng.Next(4)).Select(_ => rng.Next(data.Length + 1)).Distinct().Order()];
        var writes = new List<byte[]>();
        int from = 0;
        foreach (int cut in cuts)
        {
            writes.Add(data[from..cut]);
            from = cut;
        }

        writes.Add(data[from..]);
        writes.RemoveAll(w => w.Length == 0);
        if (cuts.Length > 0)
        {
            recipe.Append(", written in ").Append(writes.Count.ToString(CultureInfo.InvariantCulture)).Append(" parts");
        }

        return writes;
    }

    private static bool IsHexDigit(byte b) => char.IsAsciiHexDigit((char)b);

    private static byte[] B(string text) => Encoding.Latin1.GetBytes(text);
}
