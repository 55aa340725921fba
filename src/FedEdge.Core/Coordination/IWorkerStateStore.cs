namespace FedEdge.Coordination;

/// <summary>Where a worker keeps its <see cref="WorkerStateRecord"/> so it survives a crash or power loss.</summary>
public interface IWorkerStateStore
{
    /// <summary>Loads the last saved record, or null when there is none.</summary>
    /// <exception cref="InvalidDataException">The stored record is unreadable.</exception>
    ValueTask<WorkerStateRecord?> LoadAsync(CancellationToken cancellationToken = default);

    /// <summary>Saves <paramref name="record"/>, replacing the previous one atomically.</summary>
    ValueTask SaveAsync(WorkerStateRecord record, CancellationToken cancellationToken = default);
}

/// <summary>The default <see cref="IWorkerStateStore"/>: a JSON file written atomically (temporary file, flush, rename).</summary>
public sealed class FileWorkerStateStore : IWorkerStateStore
{
    private readonly string _path;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private DateTimeOffset _lastWritten = DateTimeOffset.MinValue;

    /// <summary>Stores the record in <paramref name="path"/>.</summary>
    public FileWorkerStateStore(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        _path = path;
    }

    /// <inheritdoc />
    public ValueTask<WorkerStateRecord?> LoadAsync(CancellationToken cancellationToken = default) => ValueTask.FromResult(WorkerStateFile.Read(_path));

    /// <inheritdoc />
    public async ValueTask SaveAsync(WorkerStateRecord record, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(record);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Writes race outside the worker's lock: never let an older record overwrite a newer one.
            if (record.UpdatedAt >= _lastWritten)
            {
                WorkerStateFile.Write(_path, record);
                _lastWritten = record.UpdatedAt;
            }
        }
        finally
        {
            _gate.Release();
        }
    }
}
