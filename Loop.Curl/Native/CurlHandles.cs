using System.Runtime.InteropServices;

namespace Loop.Curl.Native;

/// <summary>A libcurl easy handle with its error buffer; <c>curl_easy_cleanup</c> on release.</summary>
internal sealed unsafe class CurlEasyHandle : SafeHandle
{
    private CurlEasyHandle()
        : base(0, ownsHandle: true)
    {
    }

    /// <summary>The 256-byte buffer libcurl writes an error message into (set again after each reset).</summary>
    public byte* ErrorBuffer { get; private set; }

    public override bool IsInvalid => handle == 0;

    public static CurlEasyHandle Create()
    {
        var easy = new CurlEasyHandle();
        nint raw = LibCurl.curl_easy_init();
        if (raw == 0)
        {
            throw new InvalidOperationException("curl_easy_init failed.");
        }

        easy.SetHandle(raw);
        easy.ErrorBuffer = (byte*)NativeMemory.AllocZeroed(CurlFlags.ErrorSize);
        return easy;
    }

    /// <summary>
    /// Replaces the native handle with a fresh one (<c>curl_easy_init</c>, then
    /// <c>curl_easy_cleanup</c> of the old), keeping this object and its error buffer: a new
    /// handle for every request without a new object. Only for a handle no multi holds. False,
    /// with the old handle kept, when libcurl cannot make one.
    /// </summary>
    public bool TryRenew()
    {
        nint fresh = LibCurl.curl_easy_init();
        if (fresh == 0)
        {
            return false;
        }

        LibCurl.curl_easy_cleanup(handle);
        SetHandle(fresh);
        ErrorBuffer[0] = 0;
        return true;
    }

    /// <summary>The error message libcurl left in the buffer, or null if none.</summary>
    public string? ErrorMessage()
    {
        string? text = Marshal.PtrToStringUTF8((nint)ErrorBuffer);
        return string.IsNullOrEmpty(text) ? null : text.TrimEnd('\n');
    }

    protected override bool ReleaseHandle()
    {
        LibCurl.curl_easy_cleanup(handle);
        NativeMemory.Free(ErrorBuffer);
        ErrorBuffer = null;
        return true;
    }
}

/// <summary>A libcurl multi handle; <c>curl_multi_cleanup</c> on release.</summary>
internal sealed class CurlMultiHandle : SafeHandle
{
    private CurlMultiHandle()
        : base(0, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle == 0;

    public static CurlMultiHandle Create()
    {
        var multi = new CurlMultiHandle();
        nint raw = LibCurl.curl_multi_init();
        if (raw == 0)
        {
            throw new InvalidOperationException("curl_multi_init failed.");
        }

        multi.SetHandle(raw);
        return multi;
    }

    protected override bool ReleaseHandle() => LibCurl.curl_multi_cleanup(handle) == 0;
}

/// <summary>A <c>curl_slist</c> of header lines; <c>curl_slist_free_all</c> on release.</summary>
internal sealed unsafe class CurlStringList : SafeHandle
{
    public CurlStringList()
        : base(0, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle == 0;

    /// <summary>Appends a line (copied by libcurl).</summary>
    public void Append(string line)
    {
        int length = System.Text.Encoding.Latin1.GetByteCount(line);
        byte[] bytes = new byte[length + 1];
        System.Text.Encoding.Latin1.GetBytes(line, bytes);
        fixed (byte* text = bytes)
        {
            nint appended = LibCurl.curl_slist_append(handle, text);
            if (appended == 0)
            {
                throw new OutOfMemoryException("curl_slist_append failed.");
            }

            SetHandle(appended);
        }
    }

    protected override bool ReleaseHandle()
    {
        LibCurl.curl_slist_free_all(handle);
        return true;
    }
}
