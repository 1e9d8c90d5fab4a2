namespace Loop.Curl.Native;

/// <summary>libcurl's option, info and flag numbers (curl.h and multi.h).</summary>
internal static class CurlOpt
{
    private const int LongType = 0;
    private const int PointerType = 10000;
    private const int FunctionType = 20000;
    private const int OffTType = 30000;

    public const int WriteData = PointerType + 1;
    public const int Url = PointerType + 2;
    public const int Proxy = PointerType + 4;
    public const int UserPassword = PointerType + 5;
    public const int ProxyUserPassword = PointerType + 6;
    public const int ReadData = PointerType + 9;
    public const int ErrorBuffer = PointerType + 10;
    public const int WriteFunction = FunctionType + 11;
    public const int ReadFunction = FunctionType + 12;
    public const int UserAgent = PointerType + 18;
    public const int HttpHeader = PointerType + 23;
    public const int SslCert = PointerType + 25;
    public const int HeaderData = PointerType + 29;
    public const int CustomRequest = PointerType + 36;
    public const int Verbose = LongType + 41;
    public const int NoProgress = LongType + 43;
    public const int NoBody = LongType + 44;
    public const int Upload = LongType + 46;
    public const int Post = LongType + 47;
    public const int FollowLocation = LongType + 52;
    public const int XferInfoData = PointerType + 57;
    public const int ProxyPort = LongType + 59;
    public const int Interface = PointerType + 62;
    public const int SslVerifyPeer = LongType + 64;
    public const int CaInfo = PointerType + 65;
    public const int MaxRedirs = LongType + 68;
    public const int HeaderFunction = FunctionType + 79;
    public const int HttpGet = LongType + 80;
    public const int SslVerifyHost = LongType + 81;
    public const int HttpVersion = LongType + 84;
    public const int SslKey = PointerType + 87;
    public const int DebugFunction = FunctionType + 94;
    public const int DebugData = PointerType + 95;
    public const int NoSignal = LongType + 99;
    public const int Private = PointerType + 103;
    public const int HttpAuth = LongType + 107;
    public const int ProxyAuth = LongType + 111;
    public const int IpResolve = LongType + 113;
    public const int InFileSizeLarge = OffTType + 115;
    public const int PostFieldSizeLarge = OffTType + 120;
    public const int TimeoutMs = LongType + 155;
    public const int ConnectTimeoutMs = LongType + 156;
    public const int HttpContentDecoding = LongType + 158;
    public const int SeekFunction = FunctionType + 167;
    public const int SeekData = PointerType + 168;
    public const int RedirProtocols = LongType + 182;
    public const int XferInfoFunction = FunctionType + 219;
    public const int FreshConnect = LongType + 74;
    public const int ForbidReuse = LongType + 75;
    public const int MaxAgeConn = LongType + 288;
    public const int BufferSize = LongType + 98;
    public const int OpenSocketFunction = FunctionType + 163;
    public const int OpenSocketData = PointerType + 164;
    public const int CloseSocketFunction = FunctionType + 208;
    public const int CloseSocketData = PointerType + 209;
    public const int PrereqFunction = FunctionType + 312;
    public const int PrereqData = PointerType + 313;
    public const int RedirProtocolsString = PointerType + 319;

    public const int MultiMaxConnects = LongType + 6;
    public const int MultiSocketFunction = FunctionType + 1;
    public const int MultiSocketData = PointerType + 2;
    public const int MultiTimerFunction = FunctionType + 4;
    public const int MultiTimerData = PointerType + 5;
}

/// <summary>CURLINFO numbers.</summary>
internal static class CurlInfo
{
    private const int StringType = 0x100000;
    private const int LongType = 0x200000;
    private const int DoubleType = 0x300000;
    private const int OffTType = 0x600000;

    public const int EffectiveUrl = StringType + 1;
    public const int ResponseCode = LongType + 2;
    public const int TotalTime = DoubleType + 3;
    public const int NameLookupTime = DoubleType + 4;
    public const int ConnectTime = DoubleType + 5;
    public const int PreTransferTime = DoubleType + 6;
    public const int StartTransferTime = DoubleType + 17;
    public const int RedirectTime = DoubleType + 19;
    public const int AppConnectTime = DoubleType + 33;
    public const int HeaderSize = LongType + 11;
    public const int OsErrno = LongType + 25;
    public const int NumConnects = LongType + 26;
    public const int HttpVersion = LongType + 46;
    public const int SizeDownloadT = OffTType + 8;
}

/// <summary>Flags and return values of libcurl's functions and callbacks.</summary>
internal static class CurlFlags
{
    public const int PollIn = 1;
    public const int PollOut = 2;
    public const int PollRemove = 4;
    public const int SelectIn = 1;
    public const int SelectOut = 2;
    public const int SelectError = 4;
    public const int SocketTimeout = -1;
    public const int MessageDone = 1;

    public const nuint ReadPause = 0x10000001;
    public const nuint ReadAbort = 0x10000000;
    public const nuint WritePause = 0x10000001;
    public const int SeekOk = 0;
    public const int SeekCantSeek = 2;
    public const int PauseContinue = 0;

    public const long AuthBasic = 1;
    public const long AuthDigest = 2;
    public const long IpResolveV4 = 1;
    public const long ProtocolHttp = 1;
    public const long ProtocolHttps = 2;
    public const long HttpVersion10 = 1;
    public const long HttpVersion11 = 2;
    public const long HttpVersion2 = 3;
    public const long HttpVersion2Tls = 4;
    public const long HttpVersion3 = 30;

    public const int ErrorSize = 256;

}

/// <summary>The CURLcodes the client tells apart (curl.h).</summary>
internal static class CurlCode
{
    public const int UnsupportedProtocol = 1;
    public const int UrlMalformat = 3;
    public const int CouldNotResolveProxy = 5;
    public const int CouldNotResolveHost = 6;
    public const int CouldNotConnect = 7;
    public const int WeirdServerReply = 8;
    public const int Http2 = 16;
    public const int PartialFile = 18;
    public const int WriteError = 23;
    public const int OutOfMemory = 27;
    public const int OperationTimedOut = 28;
    public const int SslConnectError = 35;
    public const int AbortedByCallback = 42;
    public const int BadFunctionArgument = 43;
    public const int InterfaceFailed = 45;
    public const int TooManyRedirects = 47;
    public const int GotNothing = 52;
    public const int SslEngineNotFound = 53;
    public const int SendError = 55;
    public const int ReceiveError = 56;
    public const int SslCertProblem = 58;
    public const int SslCipher = 59;
    public const int PeerFailedVerification = 60;
    public const int BadContentEncoding = 61;
    public const int FileSizeExceeded = 63;
    public const int SslEngineInitFailed = 66;
    public const int SslCaCertBadFile = 77;
    public const int SslShutdownFailed = 80;
    public const int SslCrlBadFile = 82;
    public const int SslIssuerError = 83;
    public const int SslPinnedPublicKeyMismatch = 90;
    public const int SslInvalidCertStatus = 91;
    public const int Http2Stream = 92;
    public const int Proxy = 97;
    public const int SslClientCert = 98;
    public const int TooLarge = 100;
}
