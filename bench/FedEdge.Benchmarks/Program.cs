using BenchmarkDotNet.Running;
using FedEdge.Benchmarks;

// Quick modes print one JSON object (see docs/benchmarks.md); anything else goes to BenchmarkDotNet.
if (args.Length > 0 && QuickModes.TryGet(args[0], out Func<string[], Task<int>>? mode))
{
    return await mode(args[1..]).ConfigureAwait(false);
}

BenchmarkSwitcher.FromAssembly(typeof(QuickModes).Assembly).Run(args);
return 0;
