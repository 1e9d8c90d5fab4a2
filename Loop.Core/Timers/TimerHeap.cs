namespace Loop.Timers;

/// <summary>
/// A binary min-heap of <see cref="TimeoutHandle"/>s ordered by (deadline, sequence), so equal
/// deadlines fire in the order they were scheduled. Cancelled handles stay in the heap until
/// they reach the top or <see cref="Compact"/> drops them (Tornado's lazy removal). Loop thread only.
/// </summary>
internal sealed class TimerHeap
{
    private TimeoutHandle[] _items = new TimeoutHandle[64];
    private int _count;

    internal int Count => _count;

    internal TimeoutHandle Peek() => _items[0];

    internal void Push(TimeoutHandle item)
    {
        if (_count == _items.Length)
        {
            Array.Resize(ref _items, _count * 2);
        }

        item.InHeap = true;
        SiftUp(_count, item);
        _count++;
    }

    internal TimeoutHandle Pop()
    {
        TimeoutHandle top = _items[0];
        top.InHeap = false;
        _count--;
        if (_count > 0)
        {
            TimeoutHandle last = _items[_count];
            _items[_count] = null!;
            SiftDown(0, last);
        }
        else
        {
            _items[0] = null!;
        }

        return top;
    }

    /// <summary>Drops every cancelled handle and restores the heap in O(n). Returns how many were dropped.</summary>
    internal int Compact()
    {
        int kept = 0;
        for (int i = 0; i < _count; i++)
        {
            TimeoutHandle item = _items[i];
            if (item.Callback is null)
            {
                item.InHeap = false;
            }
            else
            {
                _items[kept++] = item;
            }
        }

        int dropped = _count - kept;
        Array.Clear(_items, kept, dropped);
        _count = kept;
        for (int i = (_count / 2) - 1; i >= 0; i--)
        {
            SiftDown(i, _items[i]);
        }

        return dropped;
    }

    internal void Clear()
    {
        for (int i = 0; i < _count; i++)
        {
            _items[i].InHeap = false;
            _items[i].Callback = null;
            _items[i].State = null;
        }

        Array.Clear(_items, 0, _count);
        _count = 0;
    }

    private static bool Less(TimeoutHandle a, TimeoutHandle b) =>
        a.DeadlineTicks < b.DeadlineTicks || (a.DeadlineTicks == b.DeadlineTicks && a.Sequence < b.Sequence);

    private void SiftUp(int index, TimeoutHandle item)
    {
        TimeoutHandle[] items = _items;
        while (index > 0)
        {
            int parent = (index - 1) >> 1;
            TimeoutHandle p = items[parent];
            if (!Less(item, p))
            {
                break;
            }

            items[index] = p;
            index = parent;
        }

        items[index] = item;
    }

    private void SiftDown(int index, TimeoutHandle item)
    {
        TimeoutHandle[] items = _items;
        int count = _count;
        while (true)
        {
            int child = (index << 1) + 1;
            if (child >= count)
            {
                break;
            }

            int right = child + 1;
            if (right < count && Less(items[right], items[child]))
            {
                child = right;
            }

            if (!Less(items[child], item))
            {
                break;
            }

            items[index] = items[child];
            index = child;
        }

        items[index] = item;
    }
}
