using System.Numerics.Tensors;

namespace FedEdge.Training;

/// <summary>
/// Forward and backward passes of a fully connected network over a block of rows, with every buffer
/// allocated once for a maximum block size. Weights are row-major [out, in] like PyTorch.
/// </summary>
internal sealed partial class MlpEngine
{
    private readonly NetworkSpec _spec;
    private readonly int[] _weightOffsets;
    private readonly int[] _biasOffsets;
    private readonly float[][] _acts;
    private readonly float[] _deltaA;
    private readonly float[] _deltaB;
    private readonly float[] _rows;

    /// <summary>Creates the engine; <paramref name="float16Rows"/> adds the three float32 row buffers the float16 passes use.</summary>
    public MlpEngine(NetworkSpec spec, ParameterLayout layout, int maxRows, bool float16Rows = false)
    {
        _spec = spec;
        MaxRows = maxRows;
        int layers = spec.LayerCount;
        _weightOffsets = new int[layers];
        _biasOffsets = new int[layers];
        for (int l = 0; l < layers; l++)
        {
            _weightOffsets[l] = layout.OffsetOf(layout.IndexOf(NetworkSpec.WeightName(l)));
            _biasOffsets[l] = layout.OffsetOf(layout.IndexOf(NetworkSpec.BiasName(l)));
        }

        _acts = new float[layers + 1][];
        int widest = 0;
        for (int l = 0; l <= layers; l++)
        {
            _acts[l] = new float[maxRows * spec.LayerSizes[l]];
            widest = Math.Max(widest, spec.LayerSizes[l]);
        }

        _deltaA = new float[maxRows * widest];
        _deltaB = new float[maxRows * widest];
        _rows = float16Rows ? new float[3 * widest] : [];
    }

    public int MaxRows { get; }

    /// <summary>Bytes of the activation and delta buffers.</summary>
    public long BufferBytes => 4L * (_acts.Sum(a => (long)a.Length) + _deltaA.Length + _deltaB.Length + _rows.Length);

    /// <summary>The input block (rows × input size); fill it before a forward pass.</summary>
    public Span<float> Input(int rows) => _acts[0].AsSpan(0, rows * _spec.InputSize);

    /// <summary>The output block after a forward pass.</summary>
    public ReadOnlySpan<float> Output(int rows) => _acts[^1].AsSpan(0, rows * _spec.OutputSize);

    public void Forward(ReadOnlySpan<float> parameters, int rows)
    {
        for (int l = 0; l < _spec.LayerCount; l++)
        {
            int nIn = _spec.LayerSizes[l];
            int nOut = _spec.LayerSizes[l + 1];
            ReadOnlySpan<float> w = parameters.Slice(_weightOffsets[l], nIn * nOut);
            ReadOnlySpan<float> bias = parameters.Slice(_biasOffsets[l], nOut);
            float[] input = _acts[l];
            float[] output = _acts[l + 1];
            int b = 0;
            for (; b + 4 <= rows; b += 4)
            {
                ReadOnlySpan<float> x0 = input.AsSpan(b * nIn, nIn);
                ReadOnlySpan<float> x1 = input.AsSpan((b + 1) * nIn, nIn);
                ReadOnlySpan<float> x2 = input.AsSpan((b + 2) * nIn, nIn);
                ReadOnlySpan<float> x3 = input.AsSpan((b + 3) * nIn, nIn);
                int z0 = b * nOut;
                for (int o = 0; o < nOut; o++)
                {
                    Kernels.Dot4(w.Slice(o * nIn, nIn), x0, x1, x2, x3, out float s0, out float s1, out float s2, out float s3);
                    float bo = bias[o];
                    output[z0 + o] = s0 + bo;
                    output[z0 + nOut + o] = s1 + bo;
                    output[z0 + (2 * nOut) + o] = s2 + bo;
                    output[z0 + (3 * nOut) + o] = s3 + bo;
                }
            }

            for (; b < rows; b++)
            {
                ReadOnlySpan<float> x = input.AsSpan(b * nIn, nIn);
                Span<float> z = output.AsSpan(b * nOut, nOut);
                for (int o = 0; o < nOut; o++)
                {
                    z[o] = TensorPrimitives.Dot(w.Slice(o * nIn, nIn), x) + bias[o];
                }
            }

            Activate(_spec.Activations[l], output.AsSpan(0, rows * nOut));
        }
    }

    /// <summary>
    /// Computes the loss of the last forward pass against <paramref name="targets"/> (rows × output size) and
    /// accumulates the gradient (scaled by <paramref name="scale"/>, 1 / mini-batch rows) into <paramref name="gradient"/>.
    /// Returns the summed per-row loss (before scaling; MSE averaged over outputs per row).
    /// </summary>
    public double Backward(ReadOnlySpan<float> parameters, ReadOnlySpan<float> targets, int rows, float scale, Span<float> gradient)
    {
        double loss = OutputDelta(targets, rows, scale);
        int layers = _spec.LayerCount;
        float[] current = _deltaA;
        float[] previous = _deltaB;
        for (int l = layers - 1; l >= 0; l--)
        {
            int nIn = _spec.LayerSizes[l];
            int nOut = _spec.LayerSizes[l + 1];
            ReadOnlySpan<float> w = parameters.Slice(_weightOffsets[l], nIn * nOut);
            Span<float> gw = gradient.Slice(_weightOffsets[l], nIn * nOut);
            Span<float> gb = gradient.Slice(_biasOffsets[l], nOut);
            float[] input = _acts[l];
            bool propagate = l > 0;
            if (propagate)
            {
                previous.AsSpan(0, rows * nIn).Clear();
            }

            int first = 0;
            if (rows >= 4)
            {
                BackwardBlocked(current, input, w, gw, gb, propagate ? previous : null, rows - (rows % 4), nIn, nOut);
                first = rows - (rows % 4);
            }

            for (int b = first; b < rows; b++)
            {
                ReadOnlySpan<float> d = current.AsSpan(b * nOut, nOut);
                ReadOnlySpan<float> x = input.AsSpan(b * nIn, nIn);
                Span<float> dx = propagate ? previous.AsSpan(b * nIn, nIn) : default;
                TensorPrimitives.Add(gb, d, gb);
                for (int o = 0; o < nOut; o++)
                {
                    float g = d[o];
                    if (g == 0f)
                    {
                        continue;
                    }

                    Span<float> gRow = gw.Slice(o * nIn, nIn);
                    TensorPrimitives.MultiplyAdd(x, g, gRow, gRow);
                    if (propagate)
                    {
                        TensorPrimitives.MultiplyAdd(w.Slice(o * nIn, nIn), g, dx, dx);
                    }
                }
            }

            if (propagate)
            {
                ActivationDerivative(_spec.Activations[l - 1], input.AsSpan(0, rows * nIn), previous.AsSpan(0, rows * nIn));
                (current, previous) = (previous, current);
            }
        }

        return loss;
    }

    /// <summary>Writes the output layer's delta (scaled by <paramref name="scale"/>) into the first delta buffer; returns the summed loss.</summary>
    private double OutputDelta(ReadOnlySpan<float> targets, int rows, float scale)
    {
        int layers = _spec.LayerCount;
        int nOutLast = _spec.OutputSize;
        Span<float> delta = _deltaA.AsSpan(0, rows * nOutLast);
        ReadOnlySpan<float> output = _acts[layers].AsSpan(0, rows * nOutLast);
        double loss = 0;
        if (_spec.Loss == LossKind.BinaryCrossEntropy)
        {
            for (int i = 0; i < delta.Length; i++)
            {
                float z = output[i];
                float y = targets[i];
                loss += Math.Max(z, 0f) - (z * y) + Math.Log(1.0 + Math.Exp(-Math.Abs(z)));
                float p = 1f / (1f + MathF.Exp(-z));
                delta[i] = (p - y) * scale;
            }
        }
        else
        {
            float perOutput = 1f / nOutLast;
            TensorPrimitives.Subtract(output, targets, delta);
            loss = TensorPrimitives.Dot<float>(delta, delta) * (double)perOutput;
            TensorPrimitives.Multiply(delta, 2f * scale * perOutput, delta);
            ActivationDerivative(_spec.Activations[layers - 1], output, delta);
        }

        return loss;
    }

    /// <summary>Gradient and input-delta accumulation for rows [0, <paramref name="rows"/>), four rows at a time.</summary>
    private static void BackwardBlocked(float[] delta, float[] input, ReadOnlySpan<float> w, Span<float> gw, Span<float> gb, float[]? previous, int rows, int nIn, int nOut)
    {
        for (int b = 0; b < rows; b += 4)
        {
            ReadOnlySpan<float> d0 = delta.AsSpan(b * nOut, nOut);
            ReadOnlySpan<float> d1 = delta.AsSpan((b + 1) * nOut, nOut);
            ReadOnlySpan<float> d2 = delta.AsSpan((b + 2) * nOut, nOut);
            ReadOnlySpan<float> d3 = delta.AsSpan((b + 3) * nOut, nOut);
            ReadOnlySpan<float> x0 = input.AsSpan(b * nIn, nIn);
            ReadOnlySpan<float> x1 = input.AsSpan((b + 1) * nIn, nIn);
            ReadOnlySpan<float> x2 = input.AsSpan((b + 2) * nIn, nIn);
            ReadOnlySpan<float> x3 = input.AsSpan((b + 3) * nIn, nIn);
            for (int o = 0; o < nOut; o++)
            {
                float c0 = d0[o], c1 = d1[o], c2 = d2[o], c3 = d3[o];
                if (c0 == 0f && c1 == 0f && c2 == 0f && c3 == 0f)
                {
                    continue;
                }

                gb[o] += c0 + c1 + c2 + c3;
                Kernels.Axpy4(gw.Slice(o * nIn, nIn), c0, x0, c1, x1, c2, x2, c3, x3);
            }

            if (previous is null)
            {
                continue;
            }

            for (int r = 0; r < 4; r++)
            {
                ReadOnlySpan<float> d = delta.AsSpan((b + r) * nOut, nOut);
                Span<float> dx = previous.AsSpan((b + r) * nIn, nIn);
                int o = 0;
                for (; o + 4 <= nOut; o += 4)
                {
                    if (d[o] == 0f && d[o + 1] == 0f && d[o + 2] == 0f && d[o + 3] == 0f)
                    {
                        continue;
                    }

                    Kernels.Axpy4(dx, d[o], w.Slice(o * nIn, nIn), d[o + 1], w.Slice((o + 1) * nIn, nIn), d[o + 2], w.Slice((o + 2) * nIn, nIn), d[o + 3], w.Slice((o + 3) * nIn, nIn));
                }

                for (; o < nOut; o++)
                {
                    if (d[o] != 0f)
                    {
                        TensorPrimitives.MultiplyAdd(w.Slice(o * nIn, nIn), d[o], dx, dx);
                    }
                }
            }
        }
    }

    /// <summary>Per-row loss of the last forward pass, without gradients (evaluation).</summary>
    public void RowLosses(ReadOnlySpan<float> targets, int rows, Span<float> losses)
    {
        int nOut = _spec.OutputSize;
        ReadOnlySpan<float> output = _acts[^1].AsSpan(0, rows * nOut);
        for (int b = 0; b < rows; b++)
        {
            if (_spec.Loss == LossKind.BinaryCrossEntropy)
            {
                float z = output[b];
                float y = targets[b];
                losses[b] = (float)(Math.Max(z, 0f) - (z * y) + Math.Log(1.0 + Math.Exp(-Math.Abs(z))));
            }
            else
            {
                ReadOnlySpan<float> o = output.Slice(b * nOut, nOut);
                ReadOnlySpan<float> t = targets.Slice(b * nOut, nOut);
                float sum = 0;
                for (int i = 0; i < nOut; i++)
                {
                    float diff = o[i] - t[i];
                    sum += diff * diff;
                }

                losses[b] = sum / nOut;
            }
        }
    }

    private static void Activate(Activation activation, Span<float> values)
    {
        switch (activation)
        {
            case Activation.ReLU:
                TensorPrimitives.Max(values, 0f, values);
                break;
            case Activation.Sigmoid:
                TensorPrimitives.Sigmoid(values, values);
                break;
            case Activation.Tanh:
                TensorPrimitives.Tanh(values, values);
                break;
            case Activation.Identity:
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(activation), activation, "Unknown activation.");
        }
    }

    /// <summary>Multiplies <paramref name="delta"/> by the activation's derivative, expressed through its output <paramref name="a"/>.</summary>
    private static void ActivationDerivative(Activation activation, ReadOnlySpan<float> a, Span<float> delta)
    {
        switch (activation)
        {
            case Activation.ReLU:
                for (int i = 0; i < delta.Length; i++)
                {
                    if (a[i] <= 0f)
                    {
                        delta[i] = 0f;
                    }
                }

                break;
            case Activation.Sigmoid:
                for (int i = 0; i < delta.Length; i++)
                {
                    delta[i] *= a[i] * (1f - a[i]);
                }

                break;
            case Activation.Tanh:
                for (int i = 0; i < delta.Length; i++)
                {
                    delta[i] *= 1f - (a[i] * a[i]);
                }

                break;
            case Activation.Identity:
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(activation), activation, "Unknown activation.");
        }
    }
}
