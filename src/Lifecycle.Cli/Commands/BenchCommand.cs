using System.CommandLine;

namespace Lifecycle.Cli.Commands;

/// <summary><c>lifecycle bench ...</c>: the benchmarks, one subcommand each (planner; the engines add theirs here).</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var command = new Command("bench", "Benchmarks: time and memory of the planner and the engines");
        command.Subcommands.Add(BenchPlannerCommand.Create());
        command.Subcommands.Add(BenchEngineCommand.Create());
        command.Subcommands.Add(BenchSchedulerCommand.Create());
        command.Subcommands.Add(BenchEc2DescribeCommand.Create());
        command.Subcommands.Add(BenchViewsCommand.Create());
        command.Subcommands.Add(BenchMetricsCommand.Create());
        return command;
    }
}
