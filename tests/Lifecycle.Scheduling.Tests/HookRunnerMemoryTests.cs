using Lifecycle.Core.Hooks;
using Lifecycle.Core.Policies;
using Lifecycle.Scheduling.Hooks;

namespace Lifecycle.Scheduling.Tests;

[CollectionDefinition(nameof(AloneCollection), DisableParallelization = true)]
public sealed class AloneCollection;

/// <summary>Measures allocations of the whole process, so it runs with no other test beside it.</summary>
[Collection(nameof(AloneCollection))]
public sealed class HookRunnerMemoryTests
{
    private static readonly HookContext Context = new("db", "every-2h", HookStage.Pre, ["vol-1"], null, new DateTimeOffset(2026, 11, 21, 2, 0, 0, TimeSpan.Zero));

    [Fact]
    public async Task Http_A300MegabyteResponse_IsReadOnlyUpToTheCap()
    {
        const long size = 300L * 1024 * 1024;
        long sent = 0;
        using var server = new LocalHttpServer(async context =>
        {
            if (context.Request.Url!.AbsolutePath == "/warm-up")
            {
                return;
            }

            context.Response.ContentLength64 = size;
            var chunk = new byte[64 * 1024];
            Array.Fill(chunk, (byte)'x');
            while (sent < size)
            {
                await context.Response.OutputStream.WriteAsync(chunk);
                Interlocked.Add(ref sent, chunk.Length);
            }
        });
        using var runner = new HookRunner(TimeProvider.System, TimeSpan.FromMilliseconds(1));
        await runner.RunAsync(new HttpHook(new Uri(server.Url, "/warm-up")) { Timeout = TimeSpan.FromSeconds(30) }, Context); // JIT and connection setup

        var before = GC.GetTotalAllocatedBytes(precise: true);
        var result = await runner.RunAsync(new HttpHook(new Uri(server.Url, "/freeze")) { Timeout = TimeSpan.FromSeconds(30) }, Context);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;

        Assert.Equal(HookOutcome.Succeeded, result.Outcome);
        Assert.Equal(HookRunner.OutputCap + HookRunner.TruncatedMarker.Length, result.Output.Length);
        Assert.EndsWith(HookRunner.TruncatedMarker, result.Output, StringComparison.Ordinal);
        Assert.True(allocated < 20L * 1024 * 1024, $"{allocated:N0} bytes allocated while reading a {size:N0} byte response");
        Assert.True(Interlocked.Read(ref sent) < size, "the whole response was sent, so it was read");
    }
}
