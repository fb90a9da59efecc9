using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Lifecycle.Server.Tests;

/// <summary>
/// `serve` rehearses its policies' next fires once started (<c>FireRehearsal</c>, tested in the scheduling tests): the
/// server registers the rehearsal by default, and it runs to its end without failing or holding up the start.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class StartRehearsalTests(ServerFixture server)
{
    [Fact]
    public async Task TheServer_RunsTheStartRehearsal_ToItsEnd()
    {
        var rehearsal = server.App.Services.GetServices<IHostedService>().OfType<BackgroundService>()
            .SingleOrDefault(s => s.GetType().Name == "FireRehearsalService");

        Assert.NotNull(rehearsal);
        Assert.True(new ServerOptions().RehearseOnStart);
        await rehearsal.ExecuteTask!.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(rehearsal.ExecuteTask.IsCompletedSuccessfully);
    }
}
