using System.Runtime.InteropServices;
using Loop.Curl.Native;
using Loop.Http;

namespace Loop.Curl;

/// <summary>
/// The easy handle as <see cref="HttpFetchOptions.PrepareCurlCallback"/> sees it: set any
/// further libcurl option (numbers as in curl.h) after the client has set its own. Valid only
/// during the callback.
/// </summary>
internal sealed class CurlHandle(nint handle) : ICurlHandle
{
    public nint Handle => handle;

    public void SetOption(int option, long value) =>
        Check(LibCurl.curl_easy_setopt_long(handle, option, new CLong(checked((nint)value))), option);

    public void SetOption(int option, string? value)
    {
        nint text = value is null ? 0 : Marshal.StringToCoTaskMemUTF8(value);
        try
        {
            // libcurl copies string options.
            Check(LibCurl.curl_easy_setopt_ptr(handle, option, text), option);
        }
        finally
        {
            if (text != 0)
            {
                Marshal.FreeCoTaskMem(text);
            }
        }
    }

    private static void Check(int code, int option)
    {
        if (code != 0)
        {
            throw new ArgumentException($"curl_easy_setopt({option}) failed: {LibCurl.ErrorText(code)}");
        }
    }
}
