"""mammorcnn.data"""
