namespace FedEdge.Training;

/// <summary>
/// The order in which a trainer visits rows: per epoch a seeded shuffle (or the natural order), cut into
/// consecutive mini-batches, the last one possibly short (PyTorch <c>DataLoader</c> with <c>drop_last=False</c>).
/// Both the managed and the TorchSharp trainer use it, so equal seeds give equal batches.
/// </summary>
public sealed class BatchSchedule
{
    private readonly int[] _order;
    private readonly Random _rng;
    private readonly bool _shuffle;
    private int _position;

    /// <summary>Creates a schedule over <paramref name="rowCount"/> rows.</summary>
    public BatchSchedule(int rowCount, int batchSize, int seed, bool shuffle = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rowCount);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        BatchSize = batchSize;
        _order = new int[rowCount];
        for (int i = 0; i < rowCount; i++)
        {
            _order[i] = i;
        }

        _rng = new Random(seed);
        _shuffle = shuffle;
        _position = rowCount;
    }

    /// <summary>The mini-batch size.</summary>
    public int BatchSize { get; }

    /// <summary>Mini-batches per epoch: ⌈rows / batch⌉.</summary>
    public int StepsPerEpoch => (_order.Length + BatchSize - 1) / BatchSize;

    /// <summary>Epochs started so far.</summary>
    public int Epoch { get; private set; }

    /// <summary>The number of steps for <paramref name="hyperParameters"/>: <c>LocalIterations</c>, or epochs × steps per epoch.</summary>
    public int PlannedSteps(TrainingHyperParameters hyperParameters)
    {
        ArgumentNullException.ThrowIfNull(hyperParameters);
        return hyperParameters.LocalIterations ?? checked(hyperParameters.LocalEpochs * StepsPerEpoch);
    }

    /// <summary>The row indices of the next mini-batch (a view valid until the next call); starts a new epoch when one ends.</summary>
    /// <param name="startsEpoch">True when this batch is the first of an epoch.</param>
    public ReadOnlySpan<int> Next(out bool startsEpoch)
    {
        startsEpoch = false;
        if (_position >= _order.Length)
        {
            if (_shuffle)
            {
                _rng.Shuffle(_order);
            }

            _position = 0;
            Epoch++;
            startsEpoch = true;
        }

        int count = Math.Min(BatchSize, _order.Length - _position);
        ReadOnlySpan<int> batch = _order.AsSpan(_position, count);
        _position += count;
        return batch;
    }
}
