using System.Runtime.InteropServices;

namespace Loop.Http.Decoding;

/// <summary>
/// zlib's inflate, reached through the runtime's own native compression library (the
/// <c>CompressionNative_*</c> exports that System.IO.Compression uses; their stream struct
/// is <c>PAL_ZStream</c> in dotnet/runtime's <c>pal_zlib.h</c>). We call it directly because
/// <see cref="System.IO.Compression.DeflateStream"/> cannot say whether a compressed stream
/// reached its end: it reports a stream cut short as a normal end of data, and a truncated
/// body would pass for a whole one.
/// </summary>
internal static unsafe partial class ZLibNative
{
    private const string Library = "System.IO.Compression.Native";

    public const int Ok = 0;
    public const int StreamEnd = 1;
    public const int BufError = -5;
    public const int NoFlush = 0;

    /// <summary>Window bits: raw deflate (no header), zlib (RFC 1950), gzip (RFC 1952).</summary>
    public const int RawDeflate = -15;
    public const int ZLib = 15;
    public const int GZip = 31;

    [StructLayout(LayoutKind.Sequential)]
    public struct ZStream
    {
        public byte* NextIn;
        public byte* NextOut;
        public sbyte* Message;
        public nint InternalState;
        public uint AvailIn;
        public uint AvailOut;
    }

    [LibraryImport(Library, EntryPoint = "CompressionNative_InflateInit2_")]
    public static partial int InflateInit2(ZStream* stream, int windowBits);

    [LibraryImport(Library, EntryPoint = "CompressionNative_Inflate")]
    public static partial int Inflate(ZStream* stream, int flush);

    [LibraryImport(Library, EntryPoint = "CompressionNative_InflateEnd")]
    public static partial int InflateEnd(ZStream* stream);

    [LibraryImport(Library, EntryPoint = "CompressionNative_InflateReset2_")]
    public static partial int InflateReset2(ZStream* stream, int windowBits);
}

/// <summary>
/// An inflate stream in native memory (zlib keeps a pointer back to its stream struct, so it
/// must not move); released with <c>inflateEnd</c>.
/// </summary>
internal sealed unsafe class InflateHandle : SafeHandle
{
    private InflateHandle()
        : base(0, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle == 0;

    public ZLibNative.ZStream* Stream => (ZLibNative.ZStream*)handle;

    /// <summary>Starts an inflate stream for <paramref name="windowBits"/> (see <see cref="ZLibNative"/>).</summary>
    /// <exception cref="HttpContentDecodingError">zlib could not start one (out of memory).</exception>
    public static InflateHandle Create(string encoding, int windowBits)
    {
        var result = new InflateHandle();
        var stream = (ZLibNative.ZStream*)NativeMemory.AllocZeroed((nuint)sizeof(ZLibNative.ZStream));
        int code = ZLibNative.InflateInit2(stream, windowBits);
        if (code != ZLibNative.Ok)
        {
            NativeMemory.Free(stream);
            throw new HttpContentDecodingError(encoding, $"Could not start decoding {encoding} (zlib error {code})");
        }

        result.SetHandle((nint)stream);
        return result;
    }

    protected override bool ReleaseHandle()
    {
        var stream = (ZLibNative.ZStream*)handle;
        _ = ZLibNative.InflateEnd(stream);
        NativeMemory.Free(stream);
        return true;
    }
}
