using FedEdge.Selection;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Microsoft.Extensions.Time.Testing;

namespace FedEdge.Core.Tests.Selection;

/// <summary>Invariants of the temporal window under random interleavings of requests, withdrawals, time and round ends.</summary>
public sealed class TemporalWindowPropertyTests
{
    /// <summary>One step: 0 request, 1 withdraw, 2 advance time, 3 complete the round (when closed).</summary>
    public sealed record Step(int Kind, int Device, int Seconds);

    private static readonly Gen<Step> Steps =
        from kind in Gen.Frequency((5, Gen.Constant(0)), (2, Gen.Constant(1)), (3, Gen.Constant(2)), (1, Gen.Constant(3)))
        from device in Gen.Choose(0, 7)
        from seconds in Gen.Choose(1, 20)
        select new Step(kind, device, seconds);

    [Property(MaxTest = 200)]
    public Property Window_AnyInterleaving_ClosuresRespectNAndTAndHoldEachDeviceOnce() =>
        Prop.ForAll(
            (from n in Gen.Choose(1, 5)
             from t in Gen.Choose(5, 30)
             from policy in Gen.Elements(LateRequestPolicy.Discard, LateRequestPolicy.CarryOver)
             from steps in Gen.ListOf(Steps, 60)
             select (N: n, T: t, Policy: policy, Steps: steps)).ToArbitrary(),
            scenario =>
            {
                (int n, int t, LateRequestPolicy policy, IList<Step> steps) = (scenario.N, scenario.T, scenario.Policy, scenario.Steps);
                var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
                using var window = new TemporalWindow(new TemporalWindowOptions { MaxDevices = n, Duration = TimeSpan.FromSeconds(t), LatePolicy = policy }, time);
                var closures = new List<WindowClosure>();
                void Record(WindowClosure? c)
                {
                    if (c is not null && (closures.Count == 0 || closures[^1].Sequence != c.Sequence))
                    {
                        closures.Add(c);
                    }
                }

                foreach (Step step in steps)
                {
                    string id = $"dev-{step.Device}";
                    switch (step.Kind)
                    {
                        case 0:
                            WindowRequestResult r = window.Request(id);
                            Record(r.Closure);
                            if (r.Outcome == WindowRequestOutcome.CarriedOver && policy != LateRequestPolicy.CarryOver)
                            {
                                return false.Label("carried over under the discard policy");
                            }

                            break;
                        case 1:
                            window.Withdraw(id);
                            break;
                        case 2:
                            time.Advance(TimeSpan.FromSeconds(step.Seconds));
                            break;
                        default:
                            if (window.Phase == WindowPhase.Closed)
                            {
                                Record(window.LastClosure);
                                Record(window.CompleteRound());
                            }

                            break;
                    }

                    Record(window.LastClosure);
                    if (window.Phase == WindowPhase.Open && window.Pending.Count == 0)
                    {
                        return false.Label("an open window with nobody in it");
                    }
                }

                foreach (WindowClosure c in closures)
                {
                    string[] ids = c.Participants.Select(p => p.DeviceId).ToArray();
                    if (ids.Length == 0 || ids.Length > n || ids.Distinct().Count() != ids.Length)
                    {
                        return false.Label($"window {c.Sequence} has {ids.Length} participants ({string.Join(',', ids)}), N = {n}");
                    }

                    if (c.ClosedAt - c.OpenedAt > TimeSpan.FromSeconds(t) || (c.Reason == WindowCloseReason.Full) != (ids.Length == n))
                    {
                        return false.Label($"window {c.Sequence} closed after {c.ClosedAt - c.OpenedAt} (T = {t} s) for {c.Reason} with {ids.Length} of {n}");
                    }
                }

                return closures.Select(c => c.Sequence).SequenceEqual(closures.Select(c => c.Sequence).Order()).Label("closures out of order");
            });
}
