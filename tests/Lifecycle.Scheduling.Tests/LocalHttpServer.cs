using System.Collections.Concurrent;
using System.Net;

namespace Lifecycle.Scheduling.Tests;

/// <summary>An HttpListener on 127.0.0.1 serving each request with a handler, for http hook tests.</summary>
internal sealed class LocalHttpServer : IDisposable
{
    private readonly HttpListener listener = new();
    private readonly Task loop;

    public LocalHttpServer(Func<HttpListenerContext, Task> handler)
    {
        for (var attempt = 0; ; attempt++)
        {
            var port = FreePort();
            listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            try
            {
                listener.Start();
                Url = new Uri($"http://127.0.0.1:{port}/");
                break;
            }
            catch (HttpListenerException) when (attempt < 5)
            {
                listener.Prefixes.Clear(); // the port was taken meanwhile
            }
        }

        loop = Task.Run(async () =>
        {
            while (listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await listener.GetContextAsync();
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }

                Paths.Enqueue(context.Request.Url!.AbsolutePath);
                _ = Task.Run(async () =>
                {
                    try
                    {
                        await handler(context);
                        context.Response.Close();
                    }
                    catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException or InvalidOperationException)
                    {
                        // the client went away (as a capped reader does)
                        HandlerErrors.Enqueue(e);
                    }
                });
            }
        });
    }

    public Uri Url { get; private set; } = null!;

    public ConcurrentQueue<string> Paths { get; } = new();

    public ConcurrentQueue<Exception> HandlerErrors { get; } = new();

    public void Dispose()
    {
        listener.Stop();
        listener.Close();
        loop.Wait(TimeSpan.FromSeconds(5));
    }

    private static int FreePort()
    {
        using var socket = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }
}
