using System.Net;
using System.Net.Sockets;

namespace Loop.Tests.Support;

/// <summary>Two connected, non-blocking TCP sockets on 127.0.0.1.</summary>
public sealed class SocketPair : IDisposable
{
    private SocketPair(Socket left, Socket right)
    {
        Left = left;
        Right = right;
    }

    public Socket Left { get; }

    public Socket Right { get; }

    public static SocketPair Create()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var left = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        left.Connect(listener.LocalEndPoint!);
        Socket right = listener.Accept();
        left.Blocking = false;
        right.Blocking = false;
        left.NoDelay = true;
        right.NoDelay = true;
        return new SocketPair(left, right);
    }

    public void Dispose()
    {
        Left.Dispose();
        Right.Dispose();
    }
}
