using FedEdge.Data;

namespace FedEdge.Core.Tests.Data;

/// <summary>The shared N-BaIoT rows, read once per test run.</summary>
internal static class NbaiotFixture
{
    private static readonly Lazy<IReadOnlyList<DataPartition>> DevicesLazy = new(() => NbaiotReader.ReadDirectory(Folder));

    public static string Folder => Path.Combine(RepoPaths.Data, "nbaiot");

    public static IReadOnlyList<DataPartition> Devices => DevicesLazy.Value;

    public static Dataset All => Dataset.Concat(Devices.Select(d => d.Data).ToList());

    /// <summary>A stratified 80/20 split of all devices, min–max scaled on the training part.</summary>
    public static (Dataset Train, Dataset Test, MinMaxNormalizer Normalizer) ScaledSplit(int seed = 1)
    {
        return DataSplits.ScaledStratifiedSplit(All, 0.2, seed);
    }
}
