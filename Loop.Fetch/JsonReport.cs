using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using Loop.Http;

namespace Loop.Fetch;

/// <summary>
/// The <c>--json</c> line for one URL, written with <see cref="Utf8JsonWriter"/> (no reflection:
/// the tool stays trimmable). The fields, in this order:
/// <c>url</c>, <c>code</c> (599 when no response came), <c>reason</c>, <c>version</c> (from the
/// status line, e.g. <c>HTTP/1.1</c>; null without a response), <c>headers</c> (an object; a
/// name sent more than once has an array of its values), <c>body_length</c> and <c>sha256</c>
/// (lower-case hex) of the body as received (decoded), <c>effective_url</c> (after redirects),
/// <c>request_time</c> and <c>time_info</c> (Tornado's, in seconds), and <c>error</c> (the one-line
/// message, or null for a 2xx).
/// </summary>
internal static class JsonReport
{
    private static readonly JsonWriterOptions s_options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The UTF-8 line for <paramref name="transfer"/>, ending with a line feed.</summary>
    public static byte[] Line(Transfer transfer, FetchSettings settings)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var json = new Utf8JsonWriter(buffer, s_options))
        {
            HttpResponse? response = transfer.Response;
            json.WriteStartObject();
            json.WriteString("url", transfer.Url);
            json.WriteNumber("code", response?.Code ?? 599);
            json.WriteString("reason", response?.Reason ?? HttpStatus.ReasonFor(599));
            json.WriteString("version", response is { Code: not 599 } ? transfer.Version : null);
            json.WriteStartObject("headers");
            if (response is { Code: not 599 })
            {
                foreach (string name in response.Headers.Names)
                {
                    IReadOnlyList<string> values = response.Headers.GetAll(name);
                    if (values.Count == 1)
                    {
                        json.WriteString(name, values[0]);
                    }
                    else
                    {
                        json.WriteStartArray(name);
                        foreach (string value in values)
                        {
                            json.WriteStringValue(value);
                        }

                        json.WriteEndArray();
                    }
                }
            }

            json.WriteEndObject();
            json.WriteNumber("body_length", transfer.Received);
            json.WriteString("sha256", Convert.ToHexStringLower(transfer.Sha256));
            json.WriteString("effective_url", response?.EffectiveUrl ?? transfer.Url);
            json.WriteNumber("request_time", response?.RequestTime.TotalSeconds ?? 0);
            json.WriteStartObject("time_info");
            if (response is not null)
            {
                foreach (KeyValuePair<string, TimeSpan> time in response.TimeInfo)
                {
                    json.WriteNumber(time.Key, time.Value.TotalSeconds);
                }
            }

            json.WriteEndObject();
            json.WriteString("error", transfer.Error is { } error ? ErrorText.Describe(error, transfer.Url, settings) : null);
            json.WriteEndObject();
        }

        buffer.Write("\n"u8);
        return buffer.WrittenSpan.ToArray();
    }
}
