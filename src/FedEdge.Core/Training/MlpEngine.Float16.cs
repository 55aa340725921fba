using System.Numerics.Tensors;

namespace FedEdge.Training;

/// <summary>
/// The passes over float16 parameters and gradients (<see cref="ParameterPrecision.Float16"/>). One weight row at a time
/// is widened to float32 into a row buffer, every dot product and every gradient sum over the block's rows is done in
/// float32, and the gradient row is rounded to float16 once per block. So the network never exists in float32: the
/// engine holds three rows of the widest layer in float32 on top of its activation buffers.
/// </summary>
internal sealed partial class MlpEngine
{
    /// <summary>The forward pass with float16 parameters (float32 arithmetic).</summary>
    public void Forward(ReadOnlySpan<Half> parameters, int rows)
    {
        int width = _rows.Length / 3;
        Span<float> wRow = _rows.AsSpan(0, width);
        for (int l = 0; l < _spec.LayerCount; l++)
        {
            int nIn = _spec.LayerSizes[l];
            int nOut = _spec.LayerSizes[l + 1];
            ReadOnlySpan<Half> w = parameters.Slice(_weightOffsets[l], nIn * nOut);
            ReadOnlySpan<Half> bias = parameters.Slice(_biasOffsets[l], nOut);
            float[] input = _acts[l];
            float[] output = _acts[l + 1];
            Span<float> row = wRow[..nIn];
            for (int o = 0; o < nOut; o++)
            {
                TensorPrimitives.ConvertToSingle(w.Slice(o * nIn, nIn), row);
                float bo = (float)bias[o];
                for (int b = 0; b < rows; b++)
                {
                    output[(b * nOut) + o] = TensorPrimitives.Dot(row, input.AsSpan(b * nIn, nIn)) + bo;
                }
            }

            Activate(_spec.Activations[l], output.AsSpan(0, rows * nOut));
        }
    }

    /// <summary>
    /// The backward pass with float16 parameters: the block's gradient is summed in float32 per weight row and then added
    /// to the float16 <paramref name="gradient"/> (one rounding per value per block). Returns the summed per-row loss.
    /// </summary>
    public double Backward(ReadOnlySpan<Half> parameters, ReadOnlySpan<float> targets, int rows, float scale, Span<Half> gradient)
    {
        double loss = OutputDelta(targets, rows, scale);
        int width = _rows.Length / 3;
        Span<float> wRowAll = _rows.AsSpan(0, width);
        Span<float> gRowAll = _rows.AsSpan(width, width);
        Span<float> oldRowAll = _rows.AsSpan(2 * width, width);
        float[] current = _deltaA;
        float[] previous = _deltaB;
        for (int l = _spec.LayerCount - 1; l >= 0; l--)
        {
            int nIn = _spec.LayerSizes[l];
            int nOut = _spec.LayerSizes[l + 1];
            ReadOnlySpan<Half> w = parameters.Slice(_weightOffsets[l], nIn * nOut);
            Span<Half> gw = gradient.Slice(_weightOffsets[l], nIn * nOut);
            Span<Half> gb = gradient.Slice(_biasOffsets[l], nOut);
            float[] input = _acts[l];
            bool propagate = l > 0;
            if (propagate)
            {
                previous.AsSpan(0, rows * nIn).Clear();
            }

            Span<float> wRow = wRowAll[..nIn];
            Span<float> gRow = gRowAll[..nIn];
            Span<float> oldRow = oldRowAll[..nIn];
            for (int o = 0; o < nOut; o++)
            {
                gRow.Clear();
                float biasSum = 0;
                bool any = false;
                if (propagate)
                {
                    TensorPrimitives.ConvertToSingle(w.Slice(o * nIn, nIn), wRow);
                }

                for (int b = 0; b < rows; b++)
                {
                    float g = current[(b * nOut) + o];
                    if (g == 0f)
                    {
                        continue;
                    }

                    any = true;
                    biasSum += g;
                    TensorPrimitives.MultiplyAdd(input.AsSpan(b * nIn, nIn), g, gRow, gRow);
                    if (propagate)
                    {
                        Span<float> dx = previous.AsSpan(b * nIn, nIn);
                        TensorPrimitives.MultiplyAdd(wRow, g, dx, dx);
                    }
                }

                if (!any)
                {
                    continue;
                }

                gb[o] = (Half)((float)gb[o] + biasSum);
                Span<Half> gwRow = gw.Slice(o * nIn, nIn);
                TensorPrimitives.ConvertToSingle(gwRow, oldRow);
                TensorPrimitives.Add(oldRow, gRow, oldRow);
                TensorPrimitives.ConvertToHalf(oldRow, gwRow);
            }

            if (propagate)
            {
                ActivationDerivative(_spec.Activations[l - 1], input.AsSpan(0, rows * nIn), previous.AsSpan(0, rows * nIn));
                (current, previous) = (previous, current);
            }
        }

        return loss;
    }
}
