using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Loop.Http;

/// <summary>
/// A fetch as the diagnostics see it (<see cref="HttpClientDiagnostics"/>): observed from its
/// start in <see cref="FetchAsync(HttpRequest, bool, CancellationToken)"/> to its end, only when
/// a meter or span listener or a Debug logger is there; otherwise none of this runs.
/// </summary>
public abstract partial class AsyncHttpClient
{
    /// <summary>
    /// A fetch someone observes starts (on the caller's thread): counted as active, its span
    /// started (and its context put in the effective request's headers), logged.
    /// </summary>
    private void BeginObserved(FetchState fetch)
    {
        fetch.Observed = true;
        fetch.StartUrl = fetch.Url;
        HttpRequest request = fetch.Request;
        if (HttpTelemetry.ActiveRequests.Enabled)
        {
            HttpTelemetry.ActiveRequests.Add(1, HttpTelemetry.RequestTags(request.Method, fetch.Url));
            fetch.CountedActive = true;
        }

        fetch.Activity = HttpTelemetry.StartActivity(request, fetch.Url);
        if (Logger.IsEnabled(LogLevel.Debug))
        {
            HttpLog.Started(Logger, request.Method, HttpTelemetry.RedactedUrl(fetch.Url.Uri));
        }
    }

    /// <summary>An observed fetch has ended (loop thread): its metrics recorded, its span stopped, its end logged.</summary>
    private void EndObserved(FetchState fetch, HttpResponse? response, Exception? failure)
    {
        string method = fetch.Original.Method;
        RequestUrl url = fetch.StartUrl!;
        double seconds = Stopwatch.GetElapsedTime(fetch.StartTimestamp).TotalSeconds;
        if (fetch.CountedActive)
        {
            HttpTelemetry.ActiveRequests.Add(-1, HttpTelemetry.RequestTags(method, url));
        }

        Exception? error = failure is HttpClientError { Code: not 599 } ? null : failure ?? (response is { Code: 599 } ? response.Error : null);
        string? version = response is { Code: not 599 } ? HttpTelemetry.ProtocolVersion(fetch.ResponseVersion) : null;
        if (HttpTelemetry.RequestDuration.Enabled)
        {
            TagList tags = HttpTelemetry.RequestTags(method, url);
            if (version is not null)
            {
                tags.Add("network.protocol.version", version);
            }

            if (response is not null && response.Code != 599)
            {
                tags.Add("http.response.status_code", HttpTelemetry.StatusCode(response.Code));
            }

            if (error is not null)
            {
                tags.Add("error.type", HttpTelemetry.ErrorType(error));
            }
            else if (response is { Code: >= 400 and not 599 })
            {
                tags.Add("error.type", HttpTelemetry.StatusText(response.Code));
            }

            HttpTelemetry.RequestDuration.Record(seconds, tags);
        }

        if (HttpTelemetry.TimeInQueue.Enabled)
        {
            TagList tags = HttpTelemetry.RequestTags(method, url);
            if (version is not null)
            {
                tags.Add("network.protocol.version", version);
            }

            HttpTelemetry.TimeInQueue.Record(fetch.QueueTime.TotalSeconds, tags);
        }

        if (fetch.Activity is { } activity)
        {
            HttpTelemetry.StopActivity(activity, response, error, version);
        }

        if (Logger.IsEnabled(LogLevel.Debug))
        {
            string shown = HttpTelemetry.RedactedUrl(url.Uri);
            if (error is not null)
            {
                HttpLog.Failed(Logger, method, shown, seconds * 1000, HttpTelemetry.ErrorType(error), error.Message);
            }
            else if (response is not null)
            {
                HttpLog.Ended(Logger, method, shown, response.Code, response.Reason, seconds * 1000);
            }
        }
    }

    /// <summary>A fetch follows a redirect (loop thread): an event on its span, a log line.</summary>
    private protected void OnRedirect(FetchState fetch, int statusCode, string location)
    {
        if (!fetch.Observed)
        {
            return;
        }

        if (fetch.Activity is { } activity)
        {
            HttpTelemetry.AddRedirect(activity, statusCode, location);
        }

        if (Logger.IsEnabled(LogLevel.Debug))
        {
            HttpLog.Redirected(Logger, fetch.Original.Method, HttpTelemetry.RedactedUrl(fetch.StartUrl!.Uri), statusCode, HttpTelemetry.RedactedLocation(location));
        }
    }

    /// <summary>A new connection is ready (loop thread): logged.</summary>
    private protected void OnConnected(string host, int port, string? peerAddress, TimeSpan took)
    {
        if (Logger.IsEnabled(LogLevel.Debug))
        {
            HttpLog.Connected(Logger, host, port, peerAddress, took.TotalMilliseconds);
        }
    }
}
