using System.Text.Json;
using FedEdge.Coordination;
using FedEdge.Data;

namespace FedEdge.Cli;

/// <summary>
/// A worker's local data: an N-BaIoT, TON_IoT or IoT-23 file (plain or gzip), scaled by the federation's normaliser or
/// by one fitted on the device's own rows. Loaded by the worker when it starts, so a file that cannot be used keeps the
/// worker NotReady, connected, and telling the coordinator why, instead of ending the process.
/// </summary>
internal sealed class LocalFileDataSource(string dataPath, string? normalizerPath, Simulation.DataSetKind kind) : ILocalDataSource
{
    /// <summary>The data set of a file's header, or N-BaIoT when the file cannot be read (the worker reports that when it loads it).</summary>
    public static Simulation.DataSetKind DetectOrDefault(string path)
    {
        try
        {
            return Simulation.DataSets.Detect(path);
        }
        catch (Exception ex) when (ex is DataFormatException or IOException or UnauthorizedAccessException)
        {
            return Simulation.DataSetKind.Nbaiot;
        }
    }

    /// <inheritdoc />
    /// <exception cref="InvalidDataException">The data file or the normaliser cannot be used; the message names the file and why.</exception>
    public async ValueTask<Dataset> LoadAsync(CancellationToken cancellationToken = default)
    {
        string current = dataPath;
        try
        {
            Dataset local = Simulation.DataSets.ReadFile(dataPath, kind);
            MinMaxNormalizer scaler;
            if (normalizerPath is null)
            {
                scaler = MinMaxNormalizer.Fit(local, clip: true);
            }
            else
            {
                current = normalizerPath;
                scaler = MinMaxNormalizer.FromJson(await File.ReadAllTextAsync(normalizerPath, cancellationToken).ConfigureAwait(false));
            }

            return scaler.Transform(local);
        }
        catch (Exception ex) when (ex is DataFormatException or IOException or ArgumentException or JsonException or UnauthorizedAccessException or FormatException)
        {
            throw new InvalidDataException($"{Path.GetFileName(current)}: {ex.Message}".ReplaceLineEndings(" "), ex);
        }
    }
}
