using System.Text;
using Loop.Http;

namespace Loop.Tests.Support;

/// <summary>What the allocation tests share: a keep-alive server with a fixed answer, and the bytes a warm fetch allocates on the loop thread.</summary>
public static class AllocationProbe
{
    /// <summary>Fetches before measuring (pools filled, code jitted).</summary>
    public const int Warmup = 300;

    /// <summary>Fetches measured.</summary>
    public const int Measured = 2000;

    /// <summary>A server that answers every request on a connection with <paramref name="body"/>, keeping it open.</summary>
    public static RawHttpServer Answering(string body)
    {
        byte[] response = Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nServer: raw\r\nContent-Type: text/plain\r\nContent-Length: {body.Length}\r\n\r\n{body}");
        return RawHttpServer.Start(async connection =>
        {
            while (await connection.ReadRequestAsync() is not null)
            {
                await connection.WriteAsync(response);
            }
        });
    }

    /// <summary>Bytes allocated on this thread per <paramref name="fetch"/>, averaged over <see cref="Measured"/> fetches after <see cref="Warmup"/>.</summary>
    public static Task<double> BytesPerRequestAsync(Func<Task<HttpResponse>> fetch) => BytesPerRequestAsync(fetch, Warmup, Measured);

    /// <summary>Bytes allocated on this thread per <paramref name="fetch"/>, averaged over <paramref name="measured"/> fetches after <paramref name="warmup"/> (each of which must answer 200).</summary>
    public static Task<double> BytesPerRequestAsync(Func<Task<HttpResponse>> fetch, int warmup, int measured) =>
        BytesPerValueRequestAsync(() => new ValueTask<HttpResponse>(fetch()), warmup, measured); // awaiting the wrapped Task costs what awaiting the Task does

    /// <summary>Bytes allocated on this thread per <paramref name="fetch"/> (a value-task fetch), as <see cref="BytesPerRequestAsync(Func{Task{HttpResponse}})"/> counts them.</summary>
    public static Task<double> BytesPerValueRequestAsync(Func<ValueTask<HttpResponse>> fetch) => BytesPerValueRequestAsync(fetch, Warmup, Measured);

    private static async Task<double> BytesPerValueRequestAsync(Func<ValueTask<HttpResponse>> fetch, int warmup, int measured)
    {
        for (int i = 0; i < warmup; i++)
        {
            Assert.That((await fetch()).Code, Is.EqualTo(200));
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < measured; i++)
        {
            await fetch();
        }

        return (GC.GetAllocatedBytesForCurrentThread() - before) / (double)measured;
    }

    /// <summary>
    /// Bytes allocated on this thread per <paramref name="fetch"/> (a fetch for an
    /// <see cref="HttpResult"/>), averaged over <see cref="Measured"/> fetches once a block of 100
    /// has allocated at most <paramref name="settledBytes"/> per fetch (or 20 s have passed).
    /// Until the runtime re-jits the caller's await at tier 1, its unoptimized code boxes the
    /// awaiter, which holds the whole result (about 96 B a fetch): the caller's cost, gone in
    /// steady state, which is what this measures.
    /// </summary>
    public static async Task<double> BytesPerResultRequestAsync(Func<ValueTask<HttpResult>> fetch, double settledBytes)
    {
        for (int i = 0; i < Warmup; i++)
        {
            Assert.That((await fetch()).Code, Is.EqualTo(200));
        }

        var settling = System.Diagnostics.Stopwatch.StartNew();
        while (settling.Elapsed < TimeSpan.FromSeconds(20))
        {
            long start = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 100; i++)
            {
                await fetch();
            }

            if (GC.GetAllocatedBytesForCurrentThread() - start <= settledBytes * 100)
            {
                break;
            }
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < Measured; i++)
        {
            await fetch();
        }

        return (GC.GetAllocatedBytesForCurrentThread() - before) / (double)Measured;
    }

    /// <summary>
    /// Bytes allocated per keep-alive request to <paramref name="url"/> (an <see cref="Answering"/>
    /// server's 13-byte body) whose body goes to a streaming callback, after checking that the
    /// callback received every byte of every response.
    /// </summary>
    public static async Task<double> StreamedBytesPerRequestAsync(AsyncHttpClient client, string url)
    {
        long received = 0;
        Action<ReadOnlyMemory<byte>> count = chunk => received += chunk.Length;
        double perRequest = await BytesPerRequestAsync(() => client.FetchAsync(new HttpRequest(url) { StreamingCallback = count }));
        TestContext.Out.WriteLine($"{perRequest:F0} B per streamed keep-alive request");
        Assert.That(received, Is.EqualTo(13L * (Warmup + Measured)));
        return perRequest;
    }
}
