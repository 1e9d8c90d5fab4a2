using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Loop.Http;
using Loop.Tests.Support;

namespace Loop.Tests.Http;

/// <summary>
/// What hostile or broken servers found in the simple client (issue 12): every failure typed,
/// every coding applied or refused, redirect bodies counted, HTTP/0.9 and endless 1xx named,
/// an early answer to an upload returned.
/// </summary>
public sealed class SimpleHostileServerTests() : HttpClientFixture(typeof(SimpleAsyncHttpClient))
{
    private static readonly byte[] s_text = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("The quick brown fox jumps over the lazy dog. ", 400)));

    [TestCase("gzip, chunked")]
    [TestCase("x-gzip , chunked")]
    [TestCase("identity, gzip, chunked")]
    public void TransferEncodingGzipChunked_IsUndone_EvenWithoutDecompressResponse(string codings) => Run(async () =>
    {
        using var raw = RawHttpServer.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await connection.WriteAsync(Concat(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nTransfer-Encoding: {codings}\r\n\r\n"), Chunked(Gzip(s_text), 1000)));
        });
        HttpResponse response = await Client.FetchAsync(new HttpRequest(raw.Url()) { DecompressResponse = false });
        Assert.That(response.Body, Is.EqualTo(s_text));
    });

    [Test]
    public void TransferEncodingBrGzipChunked_AreUndoneInReverse() => Run(async () =>
    {
        byte[] encoded = Brotli(Gzip(s_text));
        using var raw = RawHttpServer.Responding(Encoding.Latin1.GetString(Concat(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, br, chunked\r\n\r\n"), Chunked(encoded, 777))));
        HttpResponse response = await Client.FetchAsync(raw.Url());
        Assert.That(response.Body, Is.EqualTo(s_text));
    });

    [Test]
    public void TransferEncodingAndContentEncoding_AreBothUndone() => Run(async () =>
    {
        byte[] encoded = Gzip(Gzip(s_text));
        using var raw = RawHttpServer.Responding(Encoding.Latin1.GetString(Concat(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), Chunked(encoded, 500))));
        HttpResponse response = await Client.FetchAsync(raw.Url());
        Assert.That(response.Body, Is.EqualTo(s_text));
        Assert.That(response.Headers["X-Consumed-Content-Encoding"], Is.EqualTo("gzip"));
    });

    [TestCase("compress, chunked", "compress")]
    [TestCase("foo, chunked", "foo")]
    [TestCase("gzip", "does not end with chunked")]
    [TestCase("chunked, gzip", "does not end with chunked")]
    [TestCase("chunked, chunked", "more than once")]
    [TestCase("identity", "does not end with chunked")]
    public void TransferEncoding_UnknownOrChunkedNotLast_IsAProtocolErrorNamingIt(string codings, string said) => Run(async () =>
    {
        using var raw = RawHttpServer.Responding($"HTTP/1.1 200 OK\r\nTransfer-Encoding: {codings}\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
        HttpResponse response = await Client.FetchAsync(raw.Url(), raiseError: false);
        Assert.That(response.Error, Is.TypeOf<HttpProtocolError>().With.Message.Contains(said));
        Assert.That(((HttpProtocolError)response.Error!).Line, Is.EqualTo($"Transfer-Encoding: {codings}"));
    });

    [Test]
    public void TransferEncodingGzip_Truncated_IsADecodingError() => Run(async () =>
    {
        byte[] gzip = Gzip(s_text);
        using var raw = RawHttpServer.Responding(Encoding.Latin1.GetString(Concat(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), Chunked(gzip.AsSpan(0, gzip.Length / 2).ToArray(), 100))));
        HttpResponse response = await Client.FetchAsync(raw.Url(), raiseError: false);
        Assert.That(response.Error, Is.TypeOf<HttpContentDecodingError>());
        Assert.That(response.Body, Is.Empty);
    });

    private static IEnumerable<TestCaseData> BrokenCompressedBodies()
    {
        byte[] gzip = Gzip(s_text);
        byte[] badChecksum = (byte[])gzip.Clone();
        badChecksum[^6] ^= 0xFF;
        yield return new TestCaseData("gzip", gzip.AsSpan(0, 40).ToArray()).SetArgDisplayNames("gzipCutShort");
        yield return new TestCaseData("gzip", gzip.AsSpan(0, gzip.Length - 4).ToArray()).SetArgDisplayNames("gzipWithoutItsLength");
        yield return new TestCaseData("gzip", badChecksum).SetArgDisplayNames("gzipBadChecksum");
        yield return new TestCaseData("gzip", Concat(gzip, "junk"u8.ToArray())).SetArgDisplayNames("gzipTrailingJunk");
        byte[] br = Brotli(s_text);
        yield return new TestCaseData("br", br.AsSpan(0, br.Length / 2).ToArray()).SetArgDisplayNames("brCutShort");
    }

    [TestCaseSource(nameof(BrokenCompressedBodies))]
    public void ContentEncoding_TruncatedOrCorrupt_IsADecodingError_NeverAShort200(string coding, byte[] body) => Run(async () =>
    {
        // Content-Length matches what is sent: only the compressed data says the body is incomplete.
        using var framed = RawHttpServer.Responding(Encoding.Latin1.GetString(Concat(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Encoding: {coding}\r\nContent-Length: {body.Length}\r\n\r\n"), body)));
        HttpResponse response = await Client.FetchAsync(framed.Url(), raiseError: false);
        Assert.That(response.Code, Is.EqualTo(599));
        Assert.That(response.Error, Is.TypeOf<HttpContentDecodingError>().With.Property("Encoding").EqualTo(coding));

        // And read until close.
        using var unframed = RawHttpServer.Responding(Encoding.Latin1.GetString(Concat(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Encoding: {coding}\r\nConnection: close\r\n\r\n"), body)));
        HttpResponse untilClose = await Client.FetchAsync(unframed.Url(), raiseError: false);
        Assert.That(untilClose.Error, Is.TypeOf<HttpContentDecodingError>());
    });

    [Test]
    public void Redirect_WithAnEndlessChunkedBody_FailsWithBodyTooLarge() => Run(async () =>
    {
        using var raw = RawHttpServer.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await connection.WriteAsync("HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nTransfer-Encoding: chunked\r\n\r\n");
            byte[] chunk = Encoding.ASCII.GetBytes("4000\r\n" + new string('x', 0x4000) + "\r\n");
            while (true)
            {
                // Until the client hangs up (the send then fails and the handler ends).
                await connection.WriteAsync(chunk);
            }
        });
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxBodySize = 256 * 1024 });
        HttpResponse response = await client.FetchAsync(raw.Url(), raiseError: false);
        Assert.That(response.Error, Is.TypeOf<HttpBodyTooLargeError>().With.Property("Limit").EqualTo(256 * 1024));
    });

    [Test]
    public void Redirect_WithADeclaredBodyOverTheLimit_FailsWithBodyTooLarge() => Run(async () =>
    {
        using var raw = RawHttpServer.Responding("HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 10000000\r\n\r\n");
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxBodySize = 1024 });
        HttpResponse response = await client.FetchAsync(raw.Url(), raiseError: false);
        Assert.That(response.Error, Is.TypeOf<HttpBodyTooLargeError>().With.Property("DeclaredLength").EqualTo(10000000L));
    });

    [Test]
    public void Redirect_WithASmallBody_IsFollowed() => Run(async () =>
    {
        using var raw = RawHttpServer.Start(async connection =>
        {
            string? head = await connection.ReadRequestAsync();
            await connection.WriteAsync(head!.StartsWith("GET /first", StringComparison.Ordinal)
                ? "HTTP/1.1 302 Found\r\nLocation: /second\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nmoved\r\n0\r\n\r\n"
                : "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        });
        HttpResponse response = await Client.FetchAsync(raw.Url("/first"));
        Assert.That(Text(response), Is.EqualTo("ok"));
    });

    [TestCase(false)]
    [TestCase(true)]
    public void Http09Reply_IsAProtocolErrorSayingSo(bool keepOpen) => Run(async () =>
    {
        using var raw = RawHttpServer.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await connection.WriteAsync("<html>hello</html>\nmore");
            connection.KeepOpen = keepOpen;
        });
        HttpProtocolError error = await AsyncAssert.ThrowsAsync<HttpProtocolError>(async () =>
            await Client.FetchAsync(new HttpRequest(raw.Url()) { RequestTimeout = TimeSpan.FromSeconds(15) }));
        Assert.That(error.Message, Does.Contain("did not answer with an HTTP/1.x status line"));
        Assert.That(error.Line, Is.EqualTo("<html>hello</html>"));
    });

    [Test]
    public void EndlessInformationalResponses_AreCapped() => Run(async () =>
    {
        using var raw = RawHttpServer.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            while (true)
            {
                await connection.WriteAsync("HTTP/1.1 100 Continue\r\n\r\n");
            }
        });
        HttpProtocolError error = await AsyncAssert.ThrowsAsync<HttpProtocolError>(async () => await Client.FetchAsync(raw.Url()));
        Assert.That(error.Message, Does.Contain("informational (1xx) responses"));
        Assert.That(error.Line, Is.EqualTo("HTTP/1.1 100 Continue"));
    });

    [Test]
    public void AFewInformationalResponses_AreSkipped() => Run(async () =>
    {
        using var raw = RawHttpServer.Responding(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        Assert.That(Text(await Client.FetchAsync(raw.Url())), Is.EqualTo("ok"));
    });

    [Test]
    public void EarlyResponse_ToALargeUpload_IsReturned() => Run(async () =>
    {
        using var raw = RawHttpServer.Start(async connection =>
        {
            // Answer at once and close without reading the body (the close resets the connection under the client's write).
            await connection.ReadRequestAsync(readBody: false);
            await connection.WriteAsync("HTTP/1.1 413 Content Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\ntoo large");
        });
        var request = new HttpRequest(raw.Url(), "POST", null, new byte[32 * 1024 * 1024]);
        HttpResponse response = await Client.FetchAsync(request, raiseError: false);
        Assert.That(response.Code, Is.EqualTo(413), response.Error?.ToString());
        Assert.That(Text(response), Is.EqualTo("too large"));
    });

    [Test]
    public void Get_WithAHeadLargerThanTheSocketBuffers_IsSentInFullAndAnswered() => Run(async () =>
    {
        // The socket cannot take a 16 MiB head at once: the send finishes as the server reads.
        const int size = 16 * 1024 * 1024;
        var received = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var raw = RawHttpServer.Start(async connection =>
        {
            received.SetResult(await ReadHeadLengthAsync(connection.Socket));
            await connection.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        });
        var request = new HttpRequest(raw.Url()) { RequestTimeout = TimeSpan.FromSeconds(20) };
        request.Headers.Add("X-Large", new string('a', size));
        HttpResponse response = await Client.FetchAsync(request);
        Assert.That(Text(response), Is.EqualTo("ok"));
        Assert.That(await received.Task.WaitAsync(TimeSpan.FromSeconds(10)), Is.GreaterThan(size));
    });

    [Test]
    public void Get_TheServerAnswersBeforeReadingAllTheHead_TheAnswerIsReturned() => Run(async () =>
    {
        using var raw = RawHttpServer.Start(async connection =>
        {
            // Read a little of the head, answer, and close with the rest unread (a reset under the client's write).
            var start = new byte[4096];
            _ = await connection.Socket.ReceiveAsync(start, SocketFlags.None);
            await connection.WriteAsync("HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo long");
        });
        var request = new HttpRequest(raw.Url()) { RequestTimeout = TimeSpan.FromSeconds(20) };
        request.Headers.Add("X-Large", new string('a', 16 * 1024 * 1024));
        HttpResponse response = await Client.FetchAsync(request, raiseError: false);
        Assert.That(response.Code, Is.EqualTo(431), response.Error?.ToString());
        Assert.That(Text(response), Is.EqualTo("too long"));
    });

    /// <summary>Reads a request head to its blank line and returns its length in bytes (the raw server's own reader rescans the whole head on each read).</summary>
    private static async Task<long> ReadHeadLengthAsync(Socket socket)
    {
        var buffer = new byte[64 * 1024];
        long total = 0;
        uint last = 0;
        while (true)
        {
            int n = await socket.ReceiveAsync(buffer, SocketFlags.None);
            if (n == 0)
            {
                return -1;
            }

            for (int i = 0; i < n; i++)
            {
                last = (last << 8) | buffer[i];
                if (last == 0x0D0A0D0A)
                {
                    return total + i + 1;
                }
            }

            total += n;
        }
    }

    [Test]
    public void EarlyResponse_ToALargeUpload_ConnectionKeptOpenWithoutReading_IsReturned() => Run(async () =>
    {
        using var raw = RawHttpServer.Start(async connection =>
        {
            // Answer at once, read no more of the body, and keep the connection: the client's write stalls.
            connection.KeepOpen = true;
            await connection.ReadRequestAsync(readBody: false);
            await connection.WriteAsync("HTTP/1.1 413 Content Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\ntoo large");
        });
        var request = new HttpRequest(raw.Url(), "POST", null, new byte[32 * 1024 * 1024]) { RequestTimeout = TimeSpan.FromSeconds(20) };
        HttpResponse response = await Client.FetchAsync(request, raiseError: false);
        Assert.That(response.Code, Is.EqualTo(413), response.Error?.ToString());
        Assert.That(Text(response), Is.EqualTo("too large"));
    });

    [Test]
    public void EarlyResponse_ToABodyProducer_StopsTheProducerAndIsReturned() => Run(async () =>
    {
        using var raw = RawHttpServer.Start(async connection =>
        {
            connection.KeepOpen = true;
            await connection.ReadRequestAsync(readBody: false);
            await connection.WriteAsync("HTTP/1.1 413 Content Too Large\r\nContent-Length: 9\r\n\r\ntoo large");
        });
        var piece = new byte[64 * 1024];
        var producerEnded = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var request = new HttpRequest(raw.Url(), "POST")
        {
            RequestTimeout = TimeSpan.FromSeconds(20),
            BodyProducer = async write =>
            {
                try
                {
                    for (int i = 0; i < 4096; i++)
                    {
                        await write(piece);
                    }

                    producerEnded.SetResult(null);
                }
                catch (StreamClosedException e)
                {
                    producerEnded.SetResult(e);
                    throw;
                }
            },
        };
        HttpResponse response = await Client.FetchAsync(request, raiseError: false);
        Assert.That(response.Code, Is.EqualTo(413), response.Error?.ToString());
        Assert.That(Text(response), Is.EqualTo("too large"));
        Assert.That(await producerEnded.Task.WaitAsync(TimeSpan.FromSeconds(10)), Is.InstanceOf<StreamClosedException>());
    });

    [Test]
    public void EarlySuccess_DuringAnUpload_IsReadWhileTheUploadFinishes_AndTheConnectionIsKept() => Run(async () =>
    {
        const int size = 16 * 1024 * 1024;
        var received = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var raw = RawHttpServer.Start(async connection =>
        {
            // A server that answers as soon as it has the request's head, then reads the whole body.
            var buffer = new byte[64 * 1024];
            var head = new List<byte>();
            long total = 0;
            int headEnd = -1;
            while (total < size)
            {
                int n = await connection.Socket.ReceiveAsync(buffer, SocketFlags.None);
                if (n == 0)
                {
                    break;
                }

                if (headEnd >= 0)
                {
                    total += n;
                    continue;
                }

                head.AddRange(buffer.AsSpan(0, n));
                headEnd = Encoding.Latin1.GetString(head.ToArray()).IndexOf("\r\n\r\n", StringComparison.Ordinal);
                if (headEnd >= 0)
                {
                    total = head.Count - (headEnd + 4);
                    await connection.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                }
            }

            received.SetResult(total);
            await connection.ReadRequestAsync();
            await connection.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond");
        });
        var request = new HttpRequest(raw.Url(), "POST", null, new byte[size]) { RequestTimeout = TimeSpan.FromSeconds(20) };
        HttpResponse response = await Client.FetchAsync(request);
        Assert.That(Text(response), Is.EqualTo("ok"));
        Assert.That(await received.Task.WaitAsync(TimeSpan.FromSeconds(10)), Is.EqualTo(size));
        Assert.That(Text(await Client.FetchAsync(raw.Url())), Is.EqualTo("second"));
        Assert.That(raw.ConnectionCount, Is.EqualTo(1));
    });

    [Test]
    public void ResetDuringAnUpload_WithoutAnAnswer_IsStreamClosed() => Run(async () =>
    {
        using var raw = RawHttpServer.Start(async connection => await connection.ReadRequestAsync(readBody: false));
        var request = new HttpRequest(raw.Url(), "POST", null, new byte[32 * 1024 * 1024]);
        HttpResponse response = await Client.FetchAsync(request, raiseError: false);
        Assert.That(response.Error, Is.TypeOf<HttpStreamClosedError>().With.Property("BytesReceived").EqualTo(0L));
    });

    [Test]
    public void StreamClosedMidBody_SaysHowMuchArrived() => Run(async () =>
    {
        const string reply = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort";
        using var raw = RawHttpServer.Responding(reply);
        HttpResponse response = await Client.FetchAsync(raw.Url(), raiseError: false);
        Assert.That(response.Error, Is.TypeOf<HttpStreamClosedError>().With.Property("BytesReceived").EqualTo((long)reply.Length));
    });

    [Test]
    public void StreamClosedMidHead_SaysHowMuchArrived() => Run(async () =>
    {
        const string reply = "HTTP/1.1 200 OK\r\nContent-Le";
        using var raw = RawHttpServer.Responding(reply);
        HttpResponse response = await Client.FetchAsync(raw.Url(), raiseError: false);
        Assert.That(response.Error, Is.TypeOf<HttpStreamClosedError>().With.Property("BytesReceived").EqualTo((long)reply.Length));
    });

    [TestCase("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz;x\r\n", "zz;x")]
    [TestCase("HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 2OO OK")]
    [TestCase("HTTP/1.1 200 OK\r\nBad Header\r\n\r\n", "Bad Header")]
    [TestCase("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nok", "Content-Length: 2")]
    [TestCase("HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\nok", "Content-Length: 0x10")]
    public void ProtocolErrors_CarryTheOffendingLine(string reply, string line) => Run(async () =>
    {
        using var raw = RawHttpServer.Responding(reply);
        HttpResponse response = await Client.FetchAsync(raw.Url(), raiseError: false);
        Assert.That(response.Error, Is.TypeOf<HttpProtocolError>().With.Property("Line").EqualTo(line));
    });

    [Test]
    public void ChunkedBodyOverTheLimit_IsBodyTooLarge() => Run(async () =>
    {
        using var raw = RawHttpServer.Responding("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000\r\n" + new string('x', 0x10000) + "\r\n0\r\n\r\n");
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { MaxBodySize = 1000 });
        HttpResponse response = await client.FetchAsync(raw.Url(), raiseError: false);
        Assert.That(response.Error, Is.TypeOf<HttpBodyTooLargeError>().With.Property("Limit").EqualTo(1000L));
    });

    [Test]
    public void ConnectionRefused_IsAConnectErrorNamingWhere() => Run(async () =>
    {
        using var holder = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        holder.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        int port = ((IPEndPoint)holder.LocalEndPoint!).Port;
        HttpConnectError error = await AsyncAssert.ThrowsAsync<HttpConnectError>(async () => await Client.FetchAsync($"http://127.0.0.1:{port}/"));
        Assert.That(error.Host, Is.EqualTo("127.0.0.1"));
        Assert.That(error.Port, Is.EqualTo(port));
        Assert.That(error.InnerException, Is.TypeOf<SocketException>().With.Property("SocketErrorCode").EqualTo(SocketError.ConnectionRefused));
    });

    [Test]
    public void UnresolvableName_IsAConnectErrorWithTheResolveException() => Run(async () =>
    {
        AsyncHttpClient client = CreateClient(new AsyncHttpClientSettings { Resolver = new FailingResolver() });
        HttpConnectError error = await AsyncAssert.ThrowsAsync<HttpConnectError>(async () => await client.FetchAsync("http://nowhere.invalid:8080/"));
        Assert.That(error.Host, Is.EqualTo("nowhere.invalid"));
        Assert.That(error.Port, Is.EqualTo(8080));
        Assert.That(error.InnerException, Is.TypeOf<ResolveException>());
    });

    [Test]
    public void ServerClosingDuringTheTlsHandshake_IsATlsError() => Run(async () =>
    {
        // Accepts and hangs up at once: the handshake never completes.
        using var raw = RawHttpServer.Start(_ => Task.CompletedTask);
        HttpTlsError error = await AsyncAssert.ThrowsAsync<HttpTlsError>(async () => await Client.FetchAsync($"https://127.0.0.1:{raw.Port}/"));
        Assert.That(error.InnerException, Is.InstanceOf<TlsHandshakeException>());
    });

    [Test]
    public void ProxyRefusingConnect_IsAConnectErrorNamingTheProxy() => Run(async () =>
    {
        using var proxy = RawHttpServer.Responding("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
        HttpConnectError error = await AsyncAssert.ThrowsAsync<HttpConnectError>(async () =>
            await Client.FetchAsync(new HttpRequest("https://example.invalid/") { ProxyHost = "127.0.0.1", ProxyPort = proxy.Port }));
        Assert.That(error.Message, Does.Contain("403"));
        Assert.That(error.Port, Is.EqualTo(proxy.Port));
    });

    private static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest))
        {
            gzip.Write(data);
        }

        return output.ToArray();
    }

    private static byte[] Brotli(byte[] data)
    {
        using var output = new MemoryStream();
        using (var brotli = new BrotliStream(output, CompressionLevel.Fastest))
        {
            brotli.Write(data);
        }

        return output.ToArray();
    }

    private static byte[] Chunked(byte[] data, int size)
    {
        var output = new MemoryStream();
        for (int offset = 0; offset < data.Length; offset += size)
        {
            int n = Math.Min(size, data.Length - offset);
            output.Write(Encoding.ASCII.GetBytes($"{n:x}\r\n"));
            output.Write(data, offset, n);
            output.Write("\r\n"u8);
        }

        output.Write("0\r\n\r\n"u8);
        return output.ToArray();
    }

    private static byte[] Concat(byte[] first, byte[] second) => [.. first, .. second];

    private sealed class FailingResolver : IResolver
    {
        public ValueTask<IPEndPoint[]> ResolveAsync(string host, int port, AddressFamily family = AddressFamily.Unspecified, CancellationToken cancellationToken = default) =>
            ValueTask.FromException<IPEndPoint[]>(new ResolveException(host, $"No address for {host}"));
    }
}
